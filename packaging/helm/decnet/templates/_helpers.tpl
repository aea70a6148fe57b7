{{/* Names and labels shared by every object of the release. */}}
{{- define "decnet.fullname" -}}
{{- printf "%s-decnet" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "decnet.labels" -}}
app.kubernetes.io/name: decnet
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* A secret value: the one given, else the one already stored, else random. */}}
{{- define "decnet.secret" -}}
{{- $given := index .root.Values.secrets .key -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace (include "decnet.fullname" .root) -}}
{{- if $given -}}
{{- $given | b64enc -}}
{{- else if and $existing (index $existing.data .key) -}}
{{- index $existing.data .key -}}
{{- else -}}
{{- randAlphaNum 40 | b64enc -}}
{{- end -}}
{{- end -}}

{{/* The container hardening every decnet pod uses. */}}
{{- define "decnet.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
