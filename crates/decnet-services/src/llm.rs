//! Mail bodies from a language model the operator runs (`[content] llm`):
//! an OpenAI-compatible `/v1/chat/completions` or an Ollama `/api/generate`
//! endpoint. A decky's story asks [`LlmWriter::body`] from inside a read
//! of its filesystem, so nothing here waits: a cached answer is returned,
//! a miss starts one bounded request on the runtime (at most
//! [`MAX_IN_FLIGHT`] at once, each under the configured timeout) and the
//! template body is used until the answer is in the cache. Answers are
//! kept per decky in `<decky data dir>/llm-cache.json` (0600) so a restart
//! asks nothing twice. Prompts carry names, hosts and subjects only; the
//! API key goes in the `Authorization` header and is never logged.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use decnet_shell::lived::writer::BodyWriter;
use parking_lot::Mutex;
use serde_json::{json, Value};

/// Requests one decky may have under way.
pub const MAX_IN_FLIGHT: usize = 2;
/// Answers one decky keeps (the story asks a few dozen keys at most).
pub const MAX_CACHED: usize = 512;
/// Largest response body read from the endpoint.
const MAX_RESPONSE: usize = 64 * 1024;
/// After a failed request, the same key is not asked again for this long.
const RETRY_AFTER: Duration = Duration::from_secs(300);

/// Where and how to ask.
#[derive(Clone, Debug)]
pub struct LlmSettings {
    /// Endpoint URL.
    pub url: String,
    /// Model name.
    pub model: String,
    /// Bearer token, if the endpoint wants one.
    pub key: Option<String>,
    /// Longest wait for one answer.
    pub timeout: Duration,
}

impl LlmSettings {
    /// From the fleet file's `[content]`, if it names an endpoint.
    pub fn from_config(c: &decnet_core::content::ContentConfig) -> Option<LlmSettings> {
        Some(LlmSettings {
            url: c.llm.clone()?,
            model: c.llm_model.clone(),
            key: c.llm_key.clone(),
            timeout: c.llm_timeout,
        })
    }

    /// Ollama's API (`/api/generate`) rather than OpenAI's.
    fn ollama(&self) -> bool {
        self.url.trim_end_matches('/').ends_with("/api/generate")
    }

    fn request(&self, prompt: &str) -> Value {
        if self.ollama() {
            json!({"model": self.model, "prompt": prompt, "stream": false})
        } else {
            json!({
                "model": self.model,
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": 400,
            })
        }
    }

    /// The text of an answer of either API.
    fn answer(&self, v: &Value) -> Option<String> {
        let text = if self.ollama() {
            v.get("response")?
        } else {
            v.get("choices")?.get(0)?.get("message")?.get("content")?
        };
        text.as_str().map(str::to_owned)
    }
}

/// One decky's model-written bodies.
pub struct LlmWriter {
    settings: LlmSettings,
    client: reqwest::Client,
    cache_path: PathBuf,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    answers: HashMap<String, String>,
    in_flight: HashSet<String>,
    failed: HashMap<String, std::time::Instant>,
}

impl LlmWriter {
    /// A writer caching in `data_dir/llm-cache.json` (read now if present).
    pub fn new(settings: LlmSettings, data_dir: &std::path::Path) -> Option<LlmWriter> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .ok()?;
        let cache_path = data_dir.join("llm-cache.json");
        let answers: HashMap<String, String> = std::fs::read(&cache_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Some(LlmWriter {
            settings,
            client,
            cache_path,
            state: Arc::new(Mutex::new(State {
                answers,
                ..State::default()
            })),
        })
    }

    /// Answers cached so far.
    pub fn cached(&self) -> usize {
        self.state.lock().answers.len()
    }

    async fn ask(
        client: reqwest::Client,
        settings: LlmSettings,
        prompt: String,
    ) -> Result<String, String> {
        let mut req = client.post(&settings.url).json(&settings.request(&prompt));
        if let Some(key) = &settings.key {
            req = req.bearer_auth(key);
        }
        let mut resp = req.send().await.map_err(|e| e.without_url().to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| e.without_url().to_string())?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_RESPONSE {
                return Err("answer too large".into());
            }
        }
        let v: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        settings
            .answer(&v)
            .ok_or_else(|| "no answer text in the response".into())
    }

    fn save(path: &std::path::Path, answers: &HashMap<String, String>) {
        let Ok(text) = serde_json::to_vec(answers) else {
            return;
        };
        let tmp = path.with_extension("json.tmp");
        let written = {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .and_then(|mut f| f.write_all(&text))
        };
        if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
            tracing::warn!(path = %path.display(), error = %e, "cannot save the LLM answer cache");
        }
    }
}

impl BodyWriter for LlmWriter {
    fn body(&self, key: &str, prompt: &str) -> Option<String> {
        let mut st = self.state.lock();
        if let Some(a) = st.answers.get(key) {
            return Some(a.clone());
        }
        let recently_failed = st
            .failed
            .get(key)
            .is_some_and(|t| t.elapsed() < RETRY_AFTER);
        if recently_failed
            || st.in_flight.contains(key)
            || st.in_flight.len() >= MAX_IN_FLIGHT
            || st.answers.len() >= MAX_CACHED
        {
            return None;
        }
        // Outside a runtime (a test reading a filesystem directly) there is
        // nothing to run the request on: the template stands.
        let handle = tokio::runtime::Handle::try_current().ok()?;
        st.in_flight.insert(key.to_owned());
        drop(st);
        let (client, settings, state, path) = (
            self.client.clone(),
            self.settings.clone(),
            self.state.clone(),
            self.cache_path.clone(),
        );
        let (key, prompt) = (key.to_owned(), prompt.to_owned());
        handle.spawn(async move {
            let result = Self::ask(client, settings, prompt).await;
            let snapshot = {
                let mut st = state.lock();
                st.in_flight.remove(&key);
                match result {
                    Ok(answer) if decnet_shell::lived::writer::as_body(&answer).is_some() => {
                        st.answers.insert(key, answer);
                        Some(st.answers.clone())
                    }
                    Ok(_) => {
                        st.failed.insert(key, std::time::Instant::now());
                        None
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "LLM request failed; template mail bodies stay");
                        st.failed.insert(key, std::time::Instant::now());
                        None
                    }
                }
            };
            if let Some(answers) = snapshot {
                let _ = tokio::task::spawn_blocking(move || Self::save(&path, &answers)).await;
            }
        });
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> LlmSettings {
        LlmSettings {
            url: url.into(),
            model: "m".into(),
            key: None,
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn both_apis_are_spoken() {
        let o = settings("http://127.0.0.1:11434/api/generate");
        assert_eq!(o.request("p")["prompt"], "p");
        assert_eq!(o.answer(&json!({"response": "hi"})).as_deref(), Some("hi"));
        let c = settings("http://127.0.0.1:8000/v1/chat/completions");
        assert_eq!(c.request("p")["messages"][0]["content"], "p");
        let a = json!({"choices": [{"message": {"role": "assistant", "content": "hello"}}]});
        assert_eq!(c.answer(&a).as_deref(), Some("hello"));
        assert_eq!(c.answer(&json!({"error": "x"})), None);
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_never_blocks_and_is_not_hammered() {
        let dir = tempfile::tempdir().unwrap();
        // Nothing listens on port 9 of loopback: the request fails fast.
        let w = LlmWriter::new(
            settings("http://127.0.0.1:9/v1/chat/completions"),
            dir.path(),
        )
        .unwrap();
        let t = std::time::Instant::now();
        assert_eq!(w.body("k", "p"), None);
        assert!(t.elapsed() < Duration::from_millis(100));
        for _ in 0..50 {
            if w.state.lock().in_flight.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(w.state.lock().failed.contains_key("k"));
        assert_eq!(w.body("k", "p"), None);
        assert!(
            w.state.lock().in_flight.is_empty(),
            "a failed key waits before it is asked again"
        );
        assert_eq!(w.cached(), 0);
    }
}
