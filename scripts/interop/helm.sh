#!/usr/bin/env bash
# The Helm chart and the container recipe, as far as this machine allows.
# helm cannot be installed here (not in Debian or PyPI; no Go toolchain,
# GitHub unreachable), so packaging/helm/rendered/demo.yaml — the chart
# rendered by hand for release `demo` — is checked instead:
#  * every template has its rendered document, and no template syntax is
#    left in it;
#  * kubernetes-validate (PyPI; the Kubernetes OpenAPI schemas, strict:
#    unknown fields rejected) accepts every object for Kubernetes 1.30;
#  * the fleets the ConfigMap carries pass `decnet validate`;
#  * yamllint accepts Chart.yaml and values.yaml;
#  * the server pods run non-root with a read-only root, drop every
#    capability and probe /api/v1/livez and /api/v1/readyz.
# The image the chart runs is built and run by container.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

NAME=helm.sh
. scripts/lib/interop.sh
interop_need python3:python3
interop_workdir decnet-helm
trap 'echo "$NAME: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR
command -v kubernetes-validate >/dev/null && command -v yamllint >/dev/null \
    || pip install -q kubernetes-validate yamllint 2>/dev/null \
    || pip install -q --break-system-packages kubernetes-validate yamllint
CHART=packaging/helm/decnet
RENDERED=packaging/helm/rendered/demo.yaml

for t in "$CHART"/templates/*.yaml; do
    grep -q "^# Source: decnet/templates/$(basename "$t")$" "$RENDERED" || fail "$t has no rendered document"
done
! grep -n "{{" "$RENDERED" || fail "template syntax left in $RENDERED"

kubernetes-validate --strict --quiet -k 1.30.0 "$RENDERED" || fail "kubernetes-validate rejected $RENDERED"

yamllint -d '{extends: relaxed, rules: {line-length: {max: 120}}}' "$CHART/Chart.yaml" "$CHART/values.yaml" \
    || fail "yamllint"

python3 - "$RENDERED" "$WORK" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
cm = by[("ConfigMap", "demo-decnet-fleet")]["data"]
for key in ("fleet.ini", "sensor.ini"):
    open(f"{sys.argv[2]}/{key}", "w").write(cm[key])
server = by[("Deployment", "demo-decnet-server")]["spec"]["template"]["spec"]
c = server["containers"][0]
sc = c["securityContext"]
assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"], sc
assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"], sc
assert c["livenessProbe"]["httpGet"]["path"] == "/api/v1/livez"
assert c["readinessProbe"]["httpGet"]["path"] == "/api/v1/readyz"
env = {e["name"]: e for e in c["env"]}
for secret in ("DECNET_ADMIN_PASSWORD", "DECNET_JWT_SECRET", "DECNET_METRICS_TOKEN", "DECNET_PG_PASSWORD"):
    assert "secretKeyRef" in env[secret]["valueFrom"], secret
sensor = by[("DaemonSet", "demo-decnet-sensor")]["spec"]["template"]["spec"]
caps = sensor["containers"][0]["securityContext"]["capabilities"]
assert set(caps["add"]) <= {"NET_ADMIN", "NET_RAW", "NET_BIND_SERVICE"}, caps
PY
"$BIN" validate "$WORK/fleet.ini" >/dev/null || fail "the chart's server fleet is invalid"
"$BIN" validate "$WORK/sensor.ini" >/dev/null || fail "the chart's sensor fleet is invalid"

echo "$NAME: OK — rendered chart valid against Kubernetes 1.30 schemas (strict), fleets valid"
