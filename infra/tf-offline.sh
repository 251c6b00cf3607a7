#!/usr/bin/env bash
# Write a Terraform CLI configuration that installs hashicorp/aws from a local filesystem
# mirror, so `terraform init` works without a network.
#
#   infra/tf-offline.sh [CONFIG_FILE]
#   export TF_CLI_CONFIG_FILE=CONFIG_FILE
#
# CONFIG_FILE defaults to $TF_CLI_CONFIG_FILE, else ~/.terraformrc. The mirror is
# $TF_PROVIDER_MIRROR, else /opt/tf-plugins, else the folder above registry.terraform.io
# of the first terraform-provider-aws_* binary found on this filesystem. With
# TF_PLUGIN_CACHE_DIR set, the configuration also names that plugin cache (init then links
# the 700 MB provider instead of copying it).
set -euo pipefail

config=${1:-${TF_CLI_CONFIG_FILE:-$HOME/.terraformrc}}

mirror=${TF_PROVIDER_MIRROR:-}
if [ -z "$mirror" ] && [ -d /opt/tf-plugins/registry.terraform.io/hashicorp/aws ]; then
  mirror=/opt/tf-plugins
fi
if [ -z "$mirror" ]; then
  binary=$(find / -xdev -path '*/registry.terraform.io/hashicorp/aws/*' \
    -name 'terraform-provider-aws_*' 2>/dev/null | head -n 1 || true)
  if [ -z "$binary" ]; then
    echo "tf-offline.sh: no local mirror of hashicorp/aws found; set TF_PROVIDER_MIRROR" >&2
    exit 1
  fi
  mirror=${binary%%/registry.terraform.io/*}
fi
if [ ! -d "$mirror/registry.terraform.io/hashicorp/aws" ]; then
  echo "tf-offline.sh: $mirror holds no registry.terraform.io/hashicorp/aws" >&2
  exit 1
fi

mkdir -p "$(dirname "$config")"
{
  if [ -n "${TF_PLUGIN_CACHE_DIR:-}" ]; then
    mkdir -p "$TF_PLUGIN_CACHE_DIR"
    printf 'plugin_cache_dir = "%s"\n\n' "$TF_PLUGIN_CACHE_DIR"
  fi
  cat <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
  # No direct block: any other provider would need the network, so init names it
  # as missing instead of trying to download it.
}
EOF
} >"$config"
echo "$config"
