/**
 * pgcdc on a real AWS account.
 *
 *   make package            # at the repository root: dist/lambda/pgcdc.zip, dependencies.zip
 *   terraform init
 *   terraform apply -var artifact_bucket=my-artifacts-bucket \
 *     -var 'alert_emails=["data-team@example.com"]'
 *
 * package_path and layer_zip_path default to what `make package` writes. The layer zip is
 * larger than the 50 MB Lambda takes in a request, so it is published through S3: name an
 * existing bucket of yours (same region) in artifact_bucket. docs/deploy-aws.md has the
 * whole procedure.
 *
 * then store the credentials (never through Terraform):
 *
 *   aws secretsmanager put-secret-value --secret-id "$(terraform output -raw source_secret_arn)" \
 *     --secret-string file://source.json
 *
 * Keep the state in a remote backend with locking; for example, add
 *   backend "s3" { bucket = "...", key = "pgcdc/terraform.tfstate", region = "...", use_lockfile = true }
 * to the terraform block in versions.tf.
 */

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      "app"        = "pgcdc"
      "managed-by" = "terraform"
    }
  }
}

locals {
  # What `make package` writes (infra/package.py), unless given explicitly.
  dist           = "${path.root}/../../../dist/lambda"
  package_path   = coalesce(var.package_path, "${local.dist}/pgcdc.zip")
  layer_zip_path = var.layer_zip_path == null ? "${local.dist}/dependencies.zip" : var.layer_zip_path
  has_layer      = local.layer_zip_path != ""
  layer_via_s3   = local.has_layer && var.artifact_bucket != null
}

# The dependencies layer unzips to ~216 MiB and zips to ~72 MiB: over the 50 MB Lambda takes
# in a PublishLayerVersion request, so it goes through S3. The key holds the zip's sha256, so
# a changed layer is a new object and a new layer version; the same build changes nothing.
resource "aws_s3_object" "layer" {
  count = local.layer_via_s3 ? 1 : 0
  #checkov:skip=CKV_AWS_186:The object is a zip of public open-source wheels; the artifact bucket's default encryption applies.

  bucket      = var.artifact_bucket
  key         = "${var.name}/lambda/dependencies-${filesha256(local.layer_zip_path)}.zip"
  source      = local.layer_zip_path
  source_hash = filemd5(local.layer_zip_path)
}

resource "aws_lambda_layer_version" "dependencies" {
  count = local.layer_via_s3 ? 1 : 0

  layer_name               = "${var.name}-dependencies"
  description              = "pgcdc dependencies (pyarrow, duckdb, psycopg, ...), built by infra/package.py"
  s3_bucket                = aws_s3_object.layer[0].bucket
  s3_key                   = aws_s3_object.layer[0].key
  source_code_hash         = filebase64sha256(local.layer_zip_path)
  compatible_runtimes      = ["python3.12"]
  compatible_architectures = ["x86_64"]
}

module "pgcdc" {
  source = "../../modules/pgcdc"

  name         = var.name
  package_path = local.package_path
  # Without an artifact bucket the module uploads the layer itself (a layer under 50 MB only).
  layer_zip_path = local.has_layer && !local.layer_via_s3 ? local.layer_zip_path : null
  layer_arns     = aws_lambda_layer_version.dependencies[*].arn

  create_warehouse_secret = true
  slot_name               = var.slot_name
  alert_emails            = var.alert_emails

  vpc_subnet_ids         = var.vpc_subnet_ids
  vpc_security_group_ids = var.vpc_security_group_ids

  environment = var.tables == "" ? {} : { PGCDC_TABLES = var.tables }
}
