{{- define "ipam-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ipam-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "ipam-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ipam-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ipam-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "ipam-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "ipam-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ipam-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Non-empty when the Metal3 face runs: it is served by the in-cluster backend, so it is
  off whenever that backend is. */}}
{{- define "ipam-operator.metal3" -}}
{{- if and .Values.backends.inCluster.enabled .Values.faces.metal3.enabled }}true{{ end }}
{{- end }}

{{/* The controller sets `ipam-operator run --controllers` starts. */}}
{{- define "ipam-operator.controllers" -}}
{{- $c := list }}
{{- if .Values.backends.inCluster.enabled }}{{ $c = append $c "in-cluster" }}{{ end }}
{{- if .Values.backends.infoblox.enabled }}{{ $c = append $c "infoblox" }}{{ end }}
{{- if .Values.faces.k0rdent.enabled }}{{ $c = append $c "k0rdent" }}{{ end }}
{{- if include "ipam-operator.metal3" . }}{{ $c = append $c "metal3" }}{{ end }}
{{- join "," $c }}
{{- end }}

{{- define "ipam-operator.webhookService" -}}
{{ include "ipam-operator.fullname" . }}-webhook
{{- end }}

{{- define "ipam-operator.webhookSecret" -}}
{{ include "ipam-operator.fullname" . }}-webhook-tls
{{- end }}
