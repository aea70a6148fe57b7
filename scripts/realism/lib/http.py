"""HTTP probes shared by the web server modules: raw requests (exact bytes
in and out, so header order and case are compared too) and a curl run."""

from .clients import run_client
from .wire import tcp_probe

REQUESTS = [
    ("GET /", b"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\nConnection: close\r\n\r\n"),
    ("HEAD /", b"HEAD / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    ("GET / HTTP/1.0 no Host", b"GET / HTTP/1.0\r\n\r\n"),
    ("GET /nonexistent.html", b"GET /nonexistent.html HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    ("GET /.env", b"GET /.env HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    ("GET /.git/config", b"GET /.git/config HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    ("GET /robots.txt", b"GET /robots.txt HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    ("GET /server-status", b"GET /server-status HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    ("GET /icons/", b"GET /icons/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    ("GET /wp-login.php", b"GET /wp-login.php HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    ("GET /phpmyadmin/", b"GET /phpmyadmin/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    ("GET /cgi-bin/", b"GET /cgi-bin/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    ("GET path traversal", b"GET /../../../../etc/passwd HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    ("GET encoded traversal", b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    ("OPTIONS *", b"OPTIONS * HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    ("OPTIONS /", b"OPTIONS / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    ("TRACE /", b"TRACE / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    ("POST / with body", b"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 9\r\nConnection: close\r\n\r\nuser=root"),
    ("PUT /x.txt", b"PUT /x.txt HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"),
    ("DELETE /", b"DELETE / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    ("unknown method FOO", b"FOO / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    ("CONNECT proxy attempt", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
    ("absolute URI (proxy check)", b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"),
    ("HTTP/0.9 request", b"GET /\r\n"),
    ("HTTP/2.0 request line", b"GET / HTTP/2.0\r\nHost: {host}\r\n\r\n"),
    ("HTTP/1.1 without Host", b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"),
    ("malformed request line", b"GARBAGE\r\n\r\n"),
    ("bad version", b"GET / HTTP/9.9\r\nHost: {host}\r\n\r\n"),
    ("header without colon", b"GET / HTTP/1.1\r\nHost: {host}\r\nBadHeader\r\nConnection: close\r\n\r\n"),
    ("oversized header (10 KiB)", b"GET / HTTP/1.1\r\nHost: {host}\r\nX-Big: " + b"A" * 10240 + b"\r\nConnection: close\r\n\r\n"),
    ("oversized URI (9 KiB)", b"GET /" + b"a" * 9216 + b" HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    ("Range request", b"GET / HTTP/1.1\r\nHost: {host}\r\nRange: bytes=0-9\r\nConnection: close\r\n\r\n"),
    ("If-Modified-Since future", b"GET / HTTP/1.1\r\nHost: {host}\r\nIf-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\nConnection: close\r\n\r\n"),
    ("keep-alive two requests", b"GET /robots.txt HTTP/1.1\r\nHost: {host}\r\n\r\nGET /nonexistent HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    ("Basic auth header", b"GET / HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic YWRtaW46YWRtaW4=\r\nConnection: close\r\n\r\n"),
    ("NUL in path", b"GET /a%00b HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    ("Shellshock User-Agent", b"GET /cgi-bin/status HTTP/1.1\r\nHost: {host}\r\nUser-Agent: () { :; }; echo; /bin/id\r\nConnection: close\r\n\r\n"),
]


def raw(payload):
    def probe(t):
        return tcp_probe(80, payload.replace(b"{host}", t.ip.encode()), first_byte_s=3.0, idle_s=0.8)(t)
    return probe


def sessions():
    out = [(f"http {name}", raw(payload)) for name, payload in REQUESTS]
    out.append(("curl -sI /", lambda t: run_client(["curl", "-sS", "-I", "--max-time", "10", f"http://{t.ip}/"])))
    out.append(("curl -s -o /dev/null -w code /index.html", lambda t: run_client(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{content_type} %{size_download}\\n", "--max-time", "10", f"http://{t.ip}/index.html"])))
    return out


def file_validators(text, target):
    """ETag and Last-Modified of static files: they come from the file's
    mtime (and size), i.e. when the package was installed on that machine
    (in raw answers and as nmap's http-headers script lists them, indented)."""
    import re

    text = re.sub(r'(?im)^(\s*ETag: )(W/)?"[^"]*"', r'\1"<ETAG>"', text)
    return re.sub(r"(?im)^(\s*Last-Modified: ).*?(?=\\r|\r|$)", r"\1<MTIME>", text)


def allow_method_order(text, target):
    """The order of the methods Apache lists in `Allow:` (and so nmap's
    http-methods line): mod_http walks its method registry, an APR hash
    whose seed is random per server start, so one server lists
    `GET,POST,OPTIONS,HEAD` after one restart and `POST,OPTIONS,HEAD,GET`
    after the next; the set of methods is still compared."""
    import re

    def sort_list(m):
        sep = "," if "," in m.group(2) else " "
        return m.group(1) + sep.join(sorted(m.group(2).replace(",", " ").split()))

    text = re.sub(r"(?im)^(Allow: )([A-Z, -]+?)(?=\\r|\r|$)", sort_list, text)
    return re.sub(r"(?m)^(\s*Supported Methods: )([A-Z ]+)$", sort_list, text)


def apache_status_state(text, target):
    """Apache's /server-status reports the server's run-time state: clock,
    start and reload times, load, counters, child PIDs, which thread is
    busy, and each thread's last request (client, timing, size). Those come
    from the server's history (how long it has run, who asked what before),
    and so does the page's length, which decides Apache's framing (chunked
    past its 8 KB output buffer, Content-Length below). Kept compared: the
    status line, headers, every label and the page's structure, the
    scoreboard's length and its count of busy, idle and empty slots, and
    which modes the per-thread rows show (how many threads have served
    depends on the history too)."""
    import re

    if "<title>Apache Status</title>" not in text:
        return text
    text = re.sub(r"(?m)^(Content-Length: \d+|Transfer-Encoding: chunked)\\r\\n\n", "", text)
    # De-chunk the body: a chunk's closing CRLF and the next chunk's size
    # line go together, wherever the boundary falls (mid-line, or alone on
    # a line, which left a stray "\r\n" line when only sizes were removed).
    head, doc, body = text.partition("<!DOCTYPE")
    if doc:
        text = head + doc + re.sub(r"\\r\\n\n[0-9a-f]+\\r\\n\n", "", body)
    text = re.sub(r"(?m)^[0-9a-f]+\\r\\n\n", "", text)
    text = re.sub(r"(</body></html>\\n\n)(\\r\\n\n)+", r"\1", text)
    text = re.sub(r"\\r\\n(?=\n<!DOCTYPE)", r"\\r\\n", text)
    text = re.sub(r"<dt>(Current Time|Restart Time|Parent Server Config\. Generation|Parent Server MPM Generation|Server uptime|Server load|Total accesses|CPU Usage):[^<]*</dt>",
                  r"<dt>\1: <STATE></dt>", text)
    text = re.sub(r"<dt>[\d.e+-]+ requests/sec[^<]*</dt>", "<dt><RATES></dt>", text)
    text = re.sub(r"<dt>\d+ requests currently being processed, \d+ workers gracefully restarting, \d+ idle workers</dt>",
                  "<dt><WORKERS></dt>", text)
    text = re.sub(r"<tr><td>(\d+|Sum)</td>(<td>[^<]*</td>)+</tr>",
                  lambda m: "<tr><td>" + m.group(1) + "</td><PROCESS></tr>", text)

    def board(m):
        chars = re.sub(r"\\n\n", "", m.group(1))
        return "<pre>" + "".join(sorted(chars)) + "</pre>"

    text = re.sub(r"<pre>([_W.\\n\n]+)</pre>", board, text)
    rows = re.findall(r"<tr><td><b>\d+-\d+</b></td>.*?</td></tr>\\n\n\\n\n", text, flags=re.S)
    modes = sorted(set(re.search(r"</td><td>(<b>\w</b>|_)\\n", r).group(1) for r in rows if re.search(r"</td><td>(<b>\w</b>|_)\\n", r)))
    for r in rows:
        text = text.replace(r, "", 1)
    text = text.replace("\\n\n</table>\\n\n <hr />", "\\n\n<ROWS " + " ".join(modes) + ">\\n\n</table>\\n\n <hr />", 1)
    return text
