#!/usr/bin/env bash
# `make release-manifests`: what a Cluster API provider release publishes, for clusterctl and
# the Cluster API Operator, rendered from the Helm chart so the two never drift:
#   metadata.yaml         release series -> Cluster API contract (clusterctl checks it)
#   ipam-components.yaml  the CRDs, the namespace, RBAC, the Deployment, Services, the webhook
#                         with a cert-manager Certificate (every CAPI provider relies on
#                         cert-manager; clusterctl installs it first), each object labelled
#                         cluster.x-k8s.io/provider=ipam-ipam-operator
# into target/release-manifests/ (or the folder given). Users set the variables below with
# clusterctl (environment or clusterctl.yaml); `clusterctl generate provider --ipam
# ipam-operator --describe` lists them.
#   IPAM_OPERATOR_CONTROLLERS  backends and faces to run (all of them)
#   IPAM_OPERATOR_CONCURRENCY  reconciles in flight per controller (16)
#   IPAM_OPERATOR_LOG_LEVEL    a RUST_LOG filter (info)
# The image is named as `make image` builds it, localhost/ipam-operator:<version> (clusterctl
# wants a canonical name); push it to a registry of yours and point clusterctl's image
# override at it (`images: {ipam-ipam-operator: {repository: <yours>}}` in clusterctl.yaml).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
OUT="${1:-$ROOT/target/release-manifests}"
VERSION="$(sed -n 's/^appVersion: "\(.*\)"$/\1/p' charts/ipam-operator/Chart.yaml)"
# Where the components live unless `clusterctl init --target-namespace` says otherwise.
NAMESPACE=ipam-operator-system
# clusterctl's label for an IPAM provider named ipam-operator: ipam-<name>.
PROVIDER_LABEL=ipam-ipam-operator
bin="$(e2e/bin/tools.sh)"
mkdir -p "$OUT"

cat > "$OUT/metadata.yaml" <<YAML
# The Cluster API contract each release series of ipam-operator implements.
apiVersion: clusterctl.cluster.x-k8s.io/v1alpha3
kind: Metadata
releaseSeries:
  - major: ${VERSION%%.*}
    minor: $(echo "$VERSION" | cut -d. -f2)
    contract: v1beta2
YAML

{
  cat <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: $NAMESPACE
  labels:
    cluster.x-k8s.io/provider: $PROVIDER_LABEL
YAML
  # The CRDs (Helm installs them from crds/ untemplated) with the provider label.
  awk -v label="    cluster.x-k8s.io/provider: $PROVIDER_LABEL" '
    pending && /^  labels:$/ { print; print label; pending = 0; next }
    pending { print "  labels:"; print label; pending = 0 }
    /^metadata:$/ { pending = 1 }
    { print }' charts/ipam-operator/crds/ipam-operator.crds.yaml
  # Everything else, every backend's RBAC included so that IPAM_OPERATOR_CONTROLLERS can
  # switch any of them on.
  "$bin/helm" template ipam-operator charts/ipam-operator --namespace "$NAMESPACE" \
    --set webhook.certManager.enabled=true --set backends.infoblox.enabled=true \
    --set replicaCount=1 --set-string "commonLabels.cluster\\.x-k8s\\.io/provider=$PROVIDER_LABEL" \
    --set image.repository=localhost/ipam-operator
} | sed \
  -e 's#- --controllers=\(.*\)$#- --controllers=${IPAM_OPERATOR_CONTROLLERS:=\1}#' \
  -e 's#- --concurrency=\(.*\)$#- --concurrency=${IPAM_OPERATOR_CONCURRENCY:=\1}#' \
  -e '/- name: RUST_LOG/{n;s#value: "\(.*\)"#value: "${IPAM_OPERATOR_LOG_LEVEL:=\1}"#}' \
  > "$OUT/ipam-components.yaml"

# What each file holds, so that a broken render fails here rather than in clusterctl.
for kind in Namespace CustomResourceDefinition Deployment Service ValidatingWebhookConfiguration \
            Certificate Issuer ClusterRole ClusterRoleBinding ServiceAccount; do
  grep -q "^kind: $kind\$" "$OUT/ipam-components.yaml" \
    || { echo "release-manifests: no $kind in ipam-components.yaml" >&2; exit 1; }
done
for var in IPAM_OPERATOR_CONTROLLERS IPAM_OPERATOR_CONCURRENCY IPAM_OPERATOR_LOG_LEVEL; do
  grep -q "\${$var:=" "$OUT/ipam-components.yaml" \
    || { echo "release-manifests: \${$var} not placed" >&2; exit 1; }
done
echo "$OUT"
