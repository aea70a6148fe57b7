//! SQL for the intelligence tables (both backends, same text).

use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use crate::model::*;
use crate::sql::{bind_all, from_us, parse_uuid, us, Bind, Cols, SqlStore};
use crate::{db_err, StoreError, StoreResult};

fn json_col<T: serde::de::DeserializeOwned>(r: &AnyRow, i: usize, what: &str) -> StoreResult<T> {
    let s: String = r.try_get(i).map_err(db_err)?;
    serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn u(v: i64) -> u64 {
    v.max(0) as u64
}

fn off(o: u64) -> i64 {
    i64::try_from(o).unwrap_or(i64::MAX)
}

fn where_of(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    }
}

fn like_pattern(v: &str) -> String {
    let mut pat = String::from("%");
    for c in v.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pat.push('\\');
        }
        pat.push(c);
    }
    pat.push('%');
    pat
}

struct Filter {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Filter {
    fn new() -> Self {
        Filter {
            clauses: Vec::new(),
            binds: Vec::new(),
        }
    }
    fn eq(&mut self, col: &str, v: Option<String>) {
        if let Some(v) = v {
            self.binds.push(Bind::Text(v));
            self.clauses.push(format!("{col} = ${}", self.binds.len()));
        }
    }
    fn raw(&mut self, clause: &str, b: Bind) {
        self.binds.push(b);
        self.clauses
            .push(clause.replace('?', &format!("${}", self.binds.len())));
    }
    fn next(&self) -> usize {
        self.binds.len() + 1
    }
}

const CRED_COLS: &str = "ip, decky, service, secret_kind, secret_hash, principal, secret_printable, secret_b64, first_seen, last_seen, count";
const BOUNTY_COLS: &str = "kind, value, ip, decky, service, first_seen, last_seen, count, details";

fn cred_from_row(r: &AnyRow) -> StoreResult<CredentialRow> {
    let mut c = Cols::new(r);
    Ok(CredentialRow {
        ip: c.get()?,
        decky: c.get()?,
        service: c.get()?,
        secret_kind: c.get()?,
        secret_hash: c.get()?,
        principal: c.get()?,
        secret_printable: c.get()?,
        secret_b64: c.get()?,
        first_seen: c.time()?,
        last_seen: c.time()?,
        count: c.count()?,
    })
}

/// A table listed page by page: its columns and its order.
struct Listing {
    table: &'static str,
    cols: &'static str,
    order: &'static str,
}

fn bounty_from_row(r: &AnyRow) -> StoreResult<BountyRow> {
    let mut c = Cols::new(r);
    Ok(BountyRow {
        kind: c.get()?,
        value: c.get()?,
        ip: c.get()?,
        decky: c.get()?,
        service: c.get()?,
        first_seen: c.time()?,
        last_seen: c.time()?,
        count: c.count()?,
        details: c.json("bounty details")?,
    })
}

/// `first = min, last = max, count += excluded` for an upsert on `table`.
fn widen(table: &str) -> String {
    format!(
        "first_seen = CASE WHEN excluded.first_seen < {t}.first_seen THEN excluded.first_seen ELSE {t}.first_seen END, \
         last_seen = CASE WHEN excluded.last_seen > {t}.last_seen THEN excluded.last_seen ELSE {t}.last_seen END, \
         count = {t}.count + excluded.count",
        t = table
    )
}

fn count_bind(v: u64) -> Bind {
    Bind::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn attacker_binds((a, state): &(AttackerRow, serde_json::Value)) -> Vec<Bind> {
    let a = a.clone().with_uuid();
    vec![
        Bind::Text(a.ip.clone()),
        Bind::Int(us(a.first_seen)),
        Bind::Int(us(a.last_seen)),
        count_bind(a.event_count),
        Bind::Text(a.behavior.clone()),
        Bind::OptText(a.identity_id.map(|i| i.to_string())),
        Bind::Text(to_json(&a)),
        Bind::Text(state.to_string()),
        Bind::Text(a.uuid.to_string()),
        Bind::OptText(a.geo.as_ref().and_then(Geo::country_key)),
    ]
}

fn credential_binds(c: &CredentialRow) -> Vec<Bind> {
    vec![
        Bind::Text(c.ip.clone()),
        Bind::Text(c.decky.clone()),
        Bind::Text(c.service.clone()),
        Bind::Text(c.secret_kind.clone()),
        Bind::Text(c.secret_hash.clone()),
        Bind::Text(c.principal.clone()),
        Bind::Text(c.secret_printable.clone()),
        Bind::Text(c.secret_b64.clone()),
        Bind::Int(us(c.first_seen)),
        Bind::Int(us(c.last_seen)),
        count_bind(c.count),
    ]
}

fn bounty_binds(x: &BountyRow) -> Vec<Bind> {
    vec![
        Bind::Text(x.kind.clone()),
        Bind::Text(x.value.clone()),
        Bind::Text(x.ip.clone()),
        Bind::Text(x.decky.clone()),
        Bind::Text(x.service.clone()),
        Bind::Int(us(x.first_seen)),
        Bind::Int(us(x.last_seen)),
        count_bind(x.count),
        Bind::Text(x.details.to_string()),
    ]
}

fn identity_binds((i, state): &(IdentityRow, serde_json::Value)) -> Vec<Bind> {
    vec![
        Bind::Text(i.id.to_string()),
        Bind::Text(i.status.clone()),
        Bind::Int(us(i.last_seen)),
        Bind::Text(to_json(i)),
        Bind::Text(state.to_string()),
    ]
}

/// Upserts the batch's changed campaigns and deletes the vanished ones.
async fn write_campaigns(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    b: &IntelBatch,
) -> StoreResult<()> {
    for c in &b.campaigns {
        sqlx::query(
            "INSERT INTO campaigns (id, last_seen, data) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, data = excluded.data",
        )
        .bind(c.id.to_string())
        .bind(us(c.last_seen))
        .bind(to_json(c))
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    }
    for id in &b.campaigns_deleted {
        sqlx::query("DELETE FROM campaigns WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

async fn insert_identity_events(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    events: &[IdentityEventRow],
) -> StoreResult<()> {
    for e in events {
        sqlx::query("INSERT INTO identity_events (id, ts, kind, payload) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING")
            .bind(e.id.to_string())
            .bind(us(e.ts))
            .bind(e.kind.as_str())
            .bind(e.payload.to_string())
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

impl SqlStore {
    /// Multi-row upsert in chunks (rows must be unique by the conflict key).
    async fn upsert(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        head: &str,
        tail: &str,
        cols: usize,
        rows: Vec<Vec<Bind>>,
    ) -> StoreResult<()> {
        let per = (2000 / cols).max(1);
        for chunk in rows.chunks(per) {
            let sql = format!(
                "{head} {} {tail}",
                crate::sql::placeholders(self.backend, chunk.len(), cols)
            );
            let flat: Vec<&Bind> = chunk.iter().flatten().collect();
            let mut q = sqlx::query(&sql);
            for b in flat {
                q = match b {
                    Bind::Text(s) => q.bind(s.as_str()),
                    Bind::Int(i) => q.bind(*i),
                    Bind::OptText(o) => q.bind(o.as_deref()),
                };
            }
            q.execute(&mut **tx).await.map_err(db_err)?;
        }
        Ok(())
    }

    async fn count(&self, sql: &str, binds: &[Bind]) -> StoreResult<u64> {
        let r = bind_all(sqlx::query(sql), binds)
            .fetch_one(&self.read)
            .await
            .map_err(db_err)?;
        Ok(u(r.try_get(0).map_err(db_err)?))
    }

    /// A page of `table`'s `data` JSON column: `w` is its WHERE clause
    /// (placeholders `$1…` for `binds`), `order` its ORDER BY.
    async fn data_page<T: serde::de::DeserializeOwned>(
        &self,
        table: &str,
        w: &str,
        binds: &[Bind],
        order: &str,
        (limit, offset): (u32, u64),
        what: &str,
    ) -> StoreResult<Page<T>> {
        let total = self
            .count(&format!("SELECT COUNT(*) FROM {table}{w}"), binds)
            .await?;
        let n = binds.len() + 1;
        let sql = format!(
            "SELECT data FROM {table}{w} ORDER BY {order} LIMIT ${n} OFFSET ${}",
            n + 1
        );
        let rows = bind_all(sqlx::query(&sql), binds)
            .bind(i64::from(limit))
            .bind(off(offset))
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        let data = rows
            .iter()
            .map(|r| json_col(r, 0, what))
            .collect::<StoreResult<_>>()?;
        Ok(Page {
            total,
            limit,
            offset,
            data,
        })
    }

    /// The `data` JSON of the row of `table` whose `key` column is `value`.
    async fn data_by_key<T: serde::de::DeserializeOwned>(
        &self,
        table: &str,
        key: &str,
        value: &str,
        what: &str,
    ) -> StoreResult<Option<T>> {
        sqlx::query(&format!("SELECT data FROM {table} WHERE {key} = $1"))
            .bind(value)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?
            .map(|r| json_col(&r, 0, what))
            .transpose()
    }

    pub(crate) async fn intel_unseen_impl(&self, ids: &[Uuid]) -> StoreResult<Vec<Uuid>> {
        let mut seen = std::collections::HashSet::new();
        for chunk in ids.chunks(500) {
            let ph: Vec<String> = (1..=chunk.len())
                .map(|i| match self.backend {
                    crate::Backend::Sqlite => "?".to_owned(),
                    crate::Backend::Postgres => format!("${i}"),
                })
                .collect();
            let sql = format!("SELECT id FROM intel_seen WHERE id IN ({})", ph.join(","));
            let strs: Vec<String> = chunk.iter().map(|i| i.hyphenated().to_string()).collect();
            let mut q = sqlx::query(&sql);
            for s in &strs {
                q = q.bind(s.as_str());
            }
            // The writer pool: intel is the only writer of intel_seen and must
            // see its own latest commit.
            for r in q.fetch_all(&self.write).await.map_err(db_err)? {
                let s: String = r.try_get(0).map_err(db_err)?;
                seen.insert(parse_uuid(&s)?);
            }
        }
        let mut out = Vec::new();
        let mut dedup = std::collections::HashSet::new();
        for id in ids {
            if !seen.contains(id) && dedup.insert(*id) {
                out.push(*id);
            }
        }
        Ok(out)
    }

    pub(crate) async fn intel_apply_impl(&self, b: &IntelBatch) -> StoreResult<()> {
        let mut tx = self.write.begin().await.map_err(db_err)?;
        if let Some(f) = &b.fence {
            f.check(&mut tx).await?;
        }
        self.mark_seen(&mut tx, &b.seen).await?;
        self.upsert(
            &mut tx,
            "INSERT INTO attackers (ip, first_seen, last_seen, event_count, behavior, identity_id, data, state, uuid, country) VALUES",
            "ON CONFLICT (ip) DO UPDATE SET first_seen = excluded.first_seen, last_seen = excluded.last_seen, \
             event_count = excluded.event_count, behavior = excluded.behavior, identity_id = excluded.identity_id, \
             data = excluded.data, state = excluded.state, uuid = excluded.uuid, country = excluded.country",
            10,
            b.attackers.iter().map(attacker_binds).collect(),
        )
        .await?;
        self.upsert(
            &mut tx,
            &format!("INSERT INTO credentials ({CRED_COLS}) VALUES"),
            &format!(
                "ON CONFLICT (ip, decky, service, secret_kind, secret_hash, principal) DO UPDATE SET {}",
                widen("credentials")
            ),
            11,
            b.credentials.iter().map(credential_binds).collect(),
        )
        .await?;
        self.upsert(
            &mut tx,
            &format!("INSERT INTO bounty ({BOUNTY_COLS}) VALUES"),
            &format!(
                "ON CONFLICT (kind, value, ip) DO UPDATE SET {}",
                widen("bounty")
            ),
            9,
            b.bounty.iter().map(bounty_binds).collect(),
        )
        .await?;
        self.upsert(
            &mut tx,
            "INSERT INTO identities (id, status, last_seen, data, state) VALUES",
            "ON CONFLICT (id) DO UPDATE SET status = excluded.status, last_seen = excluded.last_seen, \
             data = excluded.data, state = excluded.state",
            5,
            b.identities.iter().map(identity_binds).collect(),
        )
        .await?;
        write_campaigns(&mut tx, b).await?;
        insert_identity_events(&mut tx, &b.identity_events).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    /// Records the consumed event ids (replays are skipped by them).
    async fn mark_seen(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        seen: &[(Uuid, chrono::DateTime<chrono::Utc>)],
    ) -> StoreResult<()> {
        for chunk in seen.chunks(400) {
            let sql = format!(
                "INSERT INTO intel_seen (id, ts) VALUES {} ON CONFLICT (id) DO NOTHING",
                crate::sql::placeholders(self.backend, chunk.len(), 2)
            );
            let strs: Vec<String> = chunk
                .iter()
                .map(|(i, _)| i.hyphenated().to_string())
                .collect();
            let mut q = sqlx::query(&sql);
            for (s, (_, ts)) in strs.iter().zip(chunk) {
                q = q.bind(s.as_str()).bind(us(*ts));
            }
            q.execute(&mut **tx).await.map_err(db_err)?;
        }
        Ok(())
    }

    pub(crate) async fn intel_load_impl(&self) -> StoreResult<IntelSnapshot> {
        let mut snap = IntelSnapshot::default();
        let mut missing_uuid = Vec::new();
        for r in sqlx::query("SELECT data, state, CAST(CASE WHEN uuid IS NULL THEN 1 ELSE 0 END AS BIGINT) FROM attackers")
            .fetch_all(&self.write)
            .await
            .map_err(db_err)?
        {
            let row: AttackerRow = json_col(&r, 0, "attacker")?;
            let row = row.with_uuid();
            if r.try_get::<i64, _>(2).map_err(db_err)? != 0 {
                missing_uuid.push((row.uuid.to_string(), row.ip.clone()));
            }
            snap.attackers
                .push((row, json_col(&r, 1, "attacker state")?));
        }
        self.backfill_attacker_uuids(&missing_uuid).await?;
        for r in sqlx::query("SELECT data, state FROM identities")
            .fetch_all(&self.write)
            .await
            .map_err(db_err)?
        {
            snap.identities.push((
                json_col(&r, 0, "identity")?,
                json_col(&r, 1, "identity state")?,
            ));
        }
        for r in sqlx::query("SELECT data FROM campaigns")
            .fetch_all(&self.write)
            .await
            .map_err(db_err)?
        {
            snap.campaigns.push(json_col(&r, 0, "campaign")?);
        }
        Ok(snap)
    }

    /// Writes the uuid column of attackers stored before it existed.
    async fn backfill_attacker_uuids(&self, rows: &[(String, String)]) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.write.begin().await.map_err(db_err)?;
        for (uuid, ip) in rows {
            sqlx::query("UPDATE attackers SET uuid = $1 WHERE ip = $2 AND uuid IS NULL")
                .bind(uuid.as_str())
                .bind(ip.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn list_attackers_impl(
        &self,
        q: &AttackerQuery,
    ) -> StoreResult<Page<AttackerRow>> {
        let mut f = Filter::new();
        f.eq("behavior", q.behavior.clone());
        f.eq("identity_id", q.identity_id.map(|i| i.to_string()));
        f.eq("country", q.country.clone());
        if let Some(min) = q.min_score {
            f.raw(
                &format!(
                    "ip IN (SELECT ip FROM enrichment WHERE provider = '{}' AND score >= ?)",
                    crate::enrich_sql::SCORED_PROVIDER
                ),
                Bind::Int(i64::from(min)),
            );
        }
        if let Some(s) = &q.search {
            f.raw("ip LIKE ? ESCAPE '\\'", Bind::Text(like_pattern(s)));
        }
        let w = where_of(&f.clauses);
        let page: Page<AttackerRow> = self
            .data_page(
                "attackers",
                &w,
                &f.binds,
                "last_seen DESC, ip DESC",
                (q.limit, q.offset),
                "attacker",
            )
            .await?;
        let rows = page.data.into_iter().map(AttackerRow::with_uuid).collect();
        Ok(Page {
            data: self.with_enrichment(rows).await?,
            ..page
        })
    }

    pub(crate) async fn attacker_countries_impl(&self) -> StoreResult<Vec<CountryCount>> {
        let rows = sqlx::query(
            "SELECT country, COUNT(*) FROM attackers WHERE country IS NOT NULL \
             GROUP BY country ORDER BY COUNT(*) DESC, country",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(CountryCount {
                    country: r.try_get(0).map_err(db_err)?,
                    attackers: u(r.try_get(1).map_err(db_err)?),
                })
            })
            .collect()
    }

    pub(crate) async fn get_attacker_impl(&self, ip: &str) -> StoreResult<Option<AttackerRow>> {
        let row: Option<AttackerRow> = self.data_by_key("attackers", "ip", ip, "attacker").await?;
        self.one_with_enrichment(row).await
    }

    pub(crate) async fn get_attacker_by_uuid_impl(
        &self,
        uuid: Uuid,
    ) -> StoreResult<Option<AttackerRow>> {
        let row: Option<AttackerRow> = self
            .data_by_key("attackers", "uuid", &uuid.to_string(), "attacker")
            .await?;
        self.one_with_enrichment(row).await
    }

    pub(crate) async fn list_credentials_impl(
        &self,
        q: &CredentialQuery,
    ) -> StoreResult<Page<CredentialRow>> {
        let mut f = Filter::new();
        f.eq("ip", q.ip.clone());
        f.eq("decky", q.decky.clone());
        f.eq("service", q.service.clone());
        f.eq("principal", q.principal.clone());
        let rows = Listing {
            table: "credentials",
            cols: CRED_COLS,
            order: "last_seen DESC, ip, principal, secret_hash",
        };
        self.filtered_page(rows, f, q.limit, q.offset, cred_from_row)
            .await
    }

    /// One page of `rows` under `f`'s conditions, with the total.
    async fn filtered_page<T>(
        &self,
        rows: Listing,
        f: Filter,
        limit: u32,
        offset: u64,
        from_row: fn(&AnyRow) -> StoreResult<T>,
    ) -> StoreResult<Page<T>> {
        let Listing { table, cols, order } = rows;
        let w = where_of(&f.clauses);
        let total = self
            .count(&format!("SELECT COUNT(*) FROM {table}{w}"), &f.binds)
            .await?;
        let n = f.next();
        let sql = format!(
            "SELECT {cols} FROM {table}{w} ORDER BY {order} LIMIT ${n} OFFSET ${}",
            n + 1
        );
        let rows = bind_all(sqlx::query(&sql), &f.binds)
            .bind(i64::from(limit))
            .bind(off(offset))
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        let data = rows.iter().map(from_row).collect::<StoreResult<_>>()?;
        Ok(Page {
            total,
            limit,
            offset,
            data,
        })
    }

    pub(crate) async fn credential_reuse_impl(
        &self,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Page<CredentialReuseRow>> {
        const GROUP: &str = "FROM credentials GROUP BY secret_kind, secret_hash \
             HAVING COUNT(DISTINCT ip) > 1 OR COUNT(DISTINCT decky) > 1 OR COUNT(DISTINCT service) > 1";
        let total = self
            .count(
                &format!("SELECT COUNT(*) FROM (SELECT secret_kind {GROUP}) g"),
                &[],
            )
            .await?;
        let rows = sqlx::query(&format!(
            "SELECT secret_kind, secret_hash, MIN(secret_printable), COUNT(DISTINCT ip), COUNT(DISTINCT decky), \
             COUNT(DISTINCT service), CAST(SUM(count) AS BIGINT), MIN(first_seen), MAX(last_seen) {GROUP} \
             ORDER BY COUNT(DISTINCT ip) DESC, CAST(SUM(count) AS BIGINT) DESC, secret_hash LIMIT $1 OFFSET $2"
        ))
        .bind(i64::from(limit))
        .bind(off(offset))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        let data = rows
            .iter()
            .map(|r| {
                Ok(CredentialReuseRow {
                    secret_kind: r.try_get(0).map_err(db_err)?,
                    secret_hash: r.try_get(1).map_err(db_err)?,
                    secret_printable: r.try_get(2).map_err(db_err)?,
                    ips: u(r.try_get(3).map_err(db_err)?),
                    deckies: u(r.try_get(4).map_err(db_err)?),
                    services: u(r.try_get(5).map_err(db_err)?),
                    attempts: u(r.try_get(6).map_err(db_err)?),
                    first_seen: from_us(r.try_get(7).map_err(db_err)?)?,
                    last_seen: from_us(r.try_get(8).map_err(db_err)?)?,
                })
            })
            .collect::<StoreResult<_>>()?;
        Ok(Page {
            total,
            limit,
            offset,
            data,
        })
    }

    pub(crate) async fn list_bounty_impl(&self, q: &BountyQuery) -> StoreResult<Page<BountyRow>> {
        let mut f = Filter::new();
        f.eq("kind", q.kind.clone());
        f.eq("ip", q.ip.clone());
        let rows = Listing {
            table: "bounty",
            cols: BOUNTY_COLS,
            order: "last_seen DESC, kind, value, ip",
        };
        self.filtered_page(rows, f, q.limit, q.offset, bounty_from_row)
            .await
    }

    pub(crate) async fn list_identities_impl(
        &self,
        include_inactive: bool,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Page<IdentityRow>> {
        let w = if include_inactive {
            ""
        } else {
            " WHERE status = 'active'"
        };
        self.data_page(
            "identities",
            w,
            &[],
            "last_seen DESC, id",
            (limit, offset),
            "identity",
        )
        .await
    }

    pub(crate) async fn get_identity_impl(&self, id: Uuid) -> StoreResult<Option<IdentityRow>> {
        self.data_by_key("identities", "id", &id.to_string(), "identity")
            .await
    }

    pub(crate) async fn identity_events_impl(
        &self,
        limit: u32,
    ) -> StoreResult<Vec<IdentityEventRow>> {
        sqlx::query("SELECT id, ts, kind, payload FROM identity_events ORDER BY id DESC LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok(IdentityEventRow {
                    id: parse_uuid(&r.try_get::<String, _>(0).map_err(db_err)?)?,
                    ts: from_us(r.try_get(1).map_err(db_err)?)?,
                    kind: r.try_get(2).map_err(db_err)?,
                    payload: json_col(r, 3, "identity event")?,
                })
            })
            .collect()
    }

    pub(crate) async fn list_campaigns_impl(
        &self,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Page<CampaignRow>> {
        self.data_page(
            "campaigns",
            "",
            &[],
            "last_seen DESC, id",
            (limit, offset),
            "campaign",
        )
        .await
    }

    pub(crate) async fn get_campaign_impl(&self, id: Uuid) -> StoreResult<Option<CampaignRow>> {
        self.data_by_key("campaigns", "id", &id.to_string(), "campaign")
            .await
    }
}
