{{/* Name of the release's objects: <release>-dms, or the release name when it already contains "dms". */}}
{{- define "dms.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dms.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector of one component: include "dms.selectorLabels" (list . "api") */}}
{{- define "dms.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ $root.Chart.Name }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "dms.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "dms.secretName" -}}
{{- .Values.secret.existingSecret | default (printf "%s-secret" (include "dms.fullname" .)) -}}
{{- end -}}

{{- define "dms.uiKeysClaim" -}}
{{- .Values.uiKeys.persistence.existingClaim | default (printf "%s-ui-keys" (include "dms.fullname" .)) -}}
{{- end -}}

{{/* Pod annotations: config and secret checksums (a change rolls the pods) and Prometheus scraping. */}}
{{- define "dms.podAnnotations" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- if .Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.ports.management | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end -}}
