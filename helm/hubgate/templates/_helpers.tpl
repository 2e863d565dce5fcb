{{/* Names and labels. */}}
{{- define "hubgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hubgate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object, beside its name/instance (selector) labels. */}}
{{- define "hubgate.releaseLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "hubgate.labels" -}}
{{ include "hubgate.releaseLabels" . }}
app.kubernetes.io/name: {{ include "hubgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The server's pods; the migration Job's pods carry another component, so no Service selects them. */}}
{{- define "hubgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hubgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "hubgate.migrationSelectorLabels" -}}
app.kubernetes.io/name: {{ include "hubgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: migration
{{- end -}}

{{- define "hubgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "hubgate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "hubgate.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Where the pod's files live; hubgate is told each path through its environment. */}}
{{- define "hubgate.configDir" -}}/etc/hubgate{{- end -}}
{{- /* Not under configDir: a mount point cannot be created inside a read-only ConfigMap volume. */ -}}
{{- define "hubgate.keysDir" -}}/etc/hubgate-keys{{- end -}}
{{- define "hubgate.dataDir" -}}/data{{- end -}}
{{- define "hubgate.tmpDir" -}}/tmp{{- end -}}

{{/* config.toml: the operator's `config` as it is (the chart-owned keys are refused in validate.tpl). */}}
{{- define "hubgate.configToml" -}}
{{- if .Values.config -}}
{{ toToml .Values.config }}
{{- end -}}
{{- end -}}

{{/* The ConfigMap's data; its checksum rolls the pods when it changes. */}}
{{- define "hubgate.configData" -}}
config.toml: |
  # Rendered by the hubgate Helm chart from the `config` value.
{{- include "hubgate.configToml" . | nindent 2 }}
{{- if .Values.policy }}
policy.toml: |
{{- .Values.policy | nindent 2 }}
{{- end }}
{{- range $name, $text := .Values.extraFiles }}
{{ $name }}: |
{{- $text | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The ConfigMap's `data:` entries, indented under it. Indenting puts spaces on blank lines; a blank line
means the same without them (and lints clean). */}}
{{- define "hubgate.configMapData" -}}
{{- regexReplaceAll "(?m)^[ \t]+$" (include "hubgate.configData" . | nindent 2) "" -}}
{{- end -}}

{{- define "hubgate.secretEnv" -}}
{{- $name := index . 0 -}}
{{- $ref := index . 1 -}}
{{- $key := index . 2 -}}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.existingSecret }}
      key: {{ $key }}
{{- end -}}

{{/* The environment both the server and the migration Job need: where things are, and the database. */}}
{{- define "hubgate.commonEnv" -}}
- name: HUBGATE_CONFIG
  value: {{ include "hubgate.configDir" . }}/config.toml
- name: HUBGATE_DATA_DIR
  value: {{ include "hubgate.dataDir" . }}
- name: TMPDIR
  value: {{ include "hubgate.tmpDir" . }}
- name: HOME
  value: {{ include "hubgate.tmpDir" . }}
{{- if .Values.policy }}
- name: HUBGATE_POLICY__PATH
  value: {{ include "hubgate.configDir" . }}/policy.toml
{{- end }}
{{- /* Production migrates in the hook Job; replicas then refuse an old schema instead of racing. */}}
- name: HUBGATE_DATABASE__MIGRATE_ON_START
  value: {{ .Values.devMode | quote }}
{{- with .Values.secrets.databaseUrl }}
{{- if .existingSecret }}
{{ include "hubgate.secretEnv" (list "HUBGATE_DATABASE__URL" . .key) }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "hubgate.serverEnv" -}}
{{ include "hubgate.commonEnv" . }}
- name: HUBGATE_SERVER__HOST
  value: 0.0.0.0
- name: HUBGATE_SERVER__PORT
  value: {{ .Values.containerPort | quote }}
{{- with .Values.secrets.upstreamToken }}
{{- if .existingSecret }}
{{ include "hubgate.secretEnv" (list "HUBGATE_UPSTREAM__TOKEN" . .key) }}
{{- end }}
{{- end }}
{{- with .Values.secrets.s3 }}
{{- if .existingSecret }}
{{ include "hubgate.secretEnv" (list "HUBGATE_STORAGE__S3__ACCESS_KEY_ID" . .accessKeyIdKey) }}
{{ include "hubgate.secretEnv" (list "HUBGATE_STORAGE__S3__SECRET_ACCESS_KEY" . .secretAccessKeyKey) }}
{{- end }}
{{- end }}
{{- with .Values.secrets.adminToken }}
{{- if .existingSecret }}
{{ include "hubgate.secretEnv" (list "HUBGATE_AUTH__ADMIN_TOKEN" . .key) }}
{{- end }}
{{- end }}
{{- with .Values.secrets.webhookUrl }}
{{- if .existingSecret }}
{{ include "hubgate.secretEnv" (list "HUBGATE_WEBHOOK__URL" . .key) }}
{{- end }}
{{- end }}
{{- if .Values.secrets.attestationKey.existingSecret }}
- name: HUBGATE_PROVENANCE__SIGNING_KEY_PATH
  value: {{ include "hubgate.keysDir" . }}/attestation-key.pem
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The drain period hubgate is configured with (server.shutdown_grace_s, default 30 s), whole seconds. */}}
{{- define "hubgate.shutdownGrace" -}}
{{- $server := .Values.config.server | default dict -}}
{{- $grace := 30.0 -}}
{{- if hasKey $server "shutdown_grace_s" -}}{{- $grace = $server.shutdown_grace_s -}}{{- end -}}
{{- ceil $grace | int -}}
{{- end -}}

{{/* How long hubgate's last writes may take after the drain (server.close_timeout_s, default 10 s), whole seconds. */}}
{{- define "hubgate.closeTimeout" -}}
{{- $server := .Values.config.server | default dict -}}
{{- $timeout := 10.0 -}}
{{- if hasKey $server "close_timeout_s" -}}{{- $timeout = $server.close_timeout_s -}}{{- end -}}
{{- ceil $timeout | int -}}
{{- end -}}

{{- define "hubgate.terminationGracePeriod" -}}
{{- add .Values.termination.preStopSleepSeconds (include "hubgate.shutdownGrace" . | int) (include "hubgate.closeTimeout" . | int) .Values.termination.extraSeconds -}}
{{- end -}}

{{/* One NetworkPolicy egress rule from a target {cidrs, except, peers, ports}; nothing without a destination. */}}
{{- define "hubgate.egressRule" -}}
{{- if or .cidrs .peers -}}
- to:
    {{- range .cidrs }}
    - ipBlock:
        cidr: {{ . }}
        {{- with $.except }}
        except:
          {{- toYaml . | nindent 10 }}
        {{- end }}
    {{- end }}
    {{- with .peers }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    {{- toYaml .ports | nindent 4 }}
{{- end }}
{{- end -}}
