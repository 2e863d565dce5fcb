{{/*
Checks across values that values.schema.json cannot express with a readable message. Every template
that renders a workload includes this, so a bad combination fails the install or upgrade before anything
is applied.
*/}}
{{- define "hubgate.validate" -}}
{{- $config := .Values.config | default dict -}}
{{- $storage := $config.storage | default dict -}}
{{- $s3 := $storage.s3 | default dict -}}
{{- $database := $config.database | default dict -}}
{{- $server := $config.server | default dict -}}
{{- $upstream := $config.upstream | default dict -}}
{{- $auth := $config.auth | default dict -}}
{{- $webhook := $config.webhook | default dict -}}
{{- $policy := $config.policy | default dict -}}
{{- $provenance := $config.provenance | default dict -}}
{{- /* The chart owns these: they must agree with the pod's mounts, ports and Job. */ -}}
{{- if hasKey $config "data_dir" -}}
{{- fail "hubgate: config.data_dir is set by the chart (the data volume is mounted at /data)" -}}
{{- end -}}
{{- if or (hasKey $server "host") (hasKey $server "port") -}}
{{- fail "hubgate: config.server.host and config.server.port are set by the chart: use containerPort" -}}
{{- end -}}
{{- if hasKey $database "migrate_on_start" -}}
{{- fail "hubgate: config.database.migrate_on_start is set by the chart (the migration Job migrates in production)" -}}
{{- end -}}
{{- if hasKey $provenance "signing_key_path" -}}
{{- fail "hubgate: config.provenance.signing_key_path is set by the chart: put the key in a Secret named by secrets.attestationKey" -}}
{{- end -}}
{{- if hasKey $policy "path" -}}
{{- fail "hubgate: config.policy.path is set by the chart: put the policy file's text in the `policy` value" -}}
{{- end -}}
{{- /* Credentials never go into a ConfigMap. */ -}}
{{- if hasKey $database "url" -}}
{{- fail "hubgate: config.database.url must not be a value (it holds a password): use secrets.databaseUrl.existingSecret" -}}
{{- end -}}
{{- if hasKey $upstream "token" -}}
{{- fail "hubgate: config.upstream.token must not be a value: use secrets.upstreamToken.existingSecret" -}}
{{- end -}}
{{- if or (hasKey $s3 "access_key_id") (hasKey $s3 "secret_access_key") (hasKey $s3 "session_token") -}}
{{- fail "hubgate: S3 keys must not be values: use secrets.s3.existingSecret, or IRSA / workload identity" -}}
{{- end -}}
{{- if hasKey $auth "admin_token" -}}
{{- fail "hubgate: config.auth.admin_token must not be a value: use secrets.adminToken.existingSecret" -}}
{{- end -}}
{{- if and (hasKey $webhook "url") .Values.secrets.webhookUrl.existingSecret -}}
{{- fail "hubgate: set the webhook URL either in config.webhook.url or in secrets.webhookUrl, not both" -}}
{{- end -}}
{{- if or (hasKey .Values.extraFiles "config.toml") (hasKey .Values.extraFiles "policy.toml") -}}
{{- fail "hubgate: extraFiles cannot replace config.toml or policy.toml: use the `config` and `policy` values" -}}
{{- end -}}
{{- if .Values.devMode -}}
{{- if or .Values.autoscaling.enabled (ne (int .Values.replicaCount) 1) -}}
{{- fail "hubgate: devMode runs exactly one replica (SQLite on a ReadWriteOnce volume): set replicaCount=1 and autoscaling.enabled=false" -}}
{{- end -}}
{{- else -}}
{{- /* Production: replicas share one database and one bucket, so neither may be local. */ -}}
{{- if ne ($storage.backend | default "filesystem") "s3" -}}
{{- fail "hubgate: production needs S3: set config.storage.backend=s3 and config.storage.s3.bucket (or devMode=true)" -}}
{{- end -}}
{{- if not $s3.bucket -}}
{{- fail "hubgate: production needs S3: set config.storage.s3.bucket (or devMode=true)" -}}
{{- end -}}
{{- if not .Values.secrets.databaseUrl.existingSecret -}}
{{- fail "hubgate: production needs PostgreSQL: set secrets.databaseUrl.existingSecret to a Secret holding the postgresql+asyncpg:// URL (or devMode=true)" -}}
{{- end -}}
{{- $replicas := ternary .Values.autoscaling.minReplicas .Values.replicaCount .Values.autoscaling.enabled -}}
{{- if and .Values.podDisruptionBudget.enabled (lt (int $replicas) 2) -}}
{{- fail "hubgate: a PodDisruptionBudget with a single replica blocks node drains: run 2 or more replicas or set podDisruptionBudget.enabled=false" -}}
{{- end -}}
{{- if .Values.networkPolicy.enabled -}}
{{- $db := .Values.networkPolicy.egress.database -}}
{{- if not (or $db.cidrs $db.peers) -}}
{{- fail "hubgate: networkPolicy.egress.database needs cidrs or peers: hubgate cannot work without its database" -}}
{{- end -}}
{{- $store := .Values.networkPolicy.egress.objectStore -}}
{{- if not (or $store.cidrs $store.peers) -}}
{{- fail "hubgate: networkPolicy.egress.objectStore needs cidrs or peers: hubgate cannot work without its bucket" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) -}}
{{- fail "hubgate: autoscaling.minReplicas is larger than autoscaling.maxReplicas" -}}
{{- end -}}
{{- end -}}
