{{/*
Names are fixed, not prefixed with the release name: the operator looks its objects up by name
(the webhook configurations, its CA Secret, the Service in the certificate's SAN), so there is
one pilotfish per cluster, as there is one istiod (docs/adr/0013-chart-and-config.md).
*/}}

{{/* Labels every object carries. */}}
{{- define "pilotfish.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: pilotfish
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The operator's selector labels (pods, Services, PDB). Gateway pods never carry them. */}}
{{- define "pilotfish.operatorSelector" -}}
app.kubernetes.io/name: pilotfish
app.kubernetes.io/component: operator
{{- end }}

{{/* Labels of the operator's own objects (RBAC, Services, webhook configurations). */}}
{{- define "pilotfish.operatorLabels" -}}
{{ include "pilotfish.labels" . }}
app.kubernetes.io/name: pilotfish
{{- end }}

{{/* An image reference from {repository, tag, digest}: the digest wins; the tag defaults to `default`. */}}
{{- define "pilotfish.image" -}}
{{- $image := index . 0 -}}
{{- $defaultTag := index . 1 -}}
{{- if $image.digest -}}
{{ $image.repository }}@{{ $image.digest }}
{{- else -}}
{{ $image.repository }}:{{ $image.tag | default $defaultTag }}
{{- end -}}
{{- end }}

{{- define "pilotfish.operatorImage" -}}
{{ include "pilotfish.image" (list .Values.images.operator .Chart.AppVersion) }}
{{- end }}

{{- define "pilotfish.proxyImage" -}}
{{ include "pilotfish.image" (list .Values.images.proxy .Chart.AppVersion) }}
{{- end }}

{{- define "pilotfish.proxyInitImage" -}}
{{ include "pilotfish.image" (list .Values.images.proxyInit .Chart.AppVersion) }}
{{- end }}
