################################################################################
# Raw and processed stores: two buckets with the same hardening
################################################################################

locals {
  buckets = {
    raw       = local.raw_bucket
    processed = local.processed_bucket
  }
}

resource "aws_s3_bucket" "this" {
  for_each = local.buckets
  #checkov:skip=CKV_AWS_18:Server access logging needs a separate log bucket that the account usually owns; the functions' reads and writes are visible in CloudTrail data events when wanted.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice of the account; the raw store can be rebuilt from a new snapshot.
  #checkov:skip=CKV2_AWS_62:Nothing consumes S3 event notifications: the state machine runs the steps on a schedule.

  bucket        = each.value
  force_destroy = var.force_destroy

  tags = merge(var.tags, { "pgcdc:store" = each.key })
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = aws_s3_bucket.this

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.s3_sse_algorithm
      kms_master_key_id = var.s3_sse_algorithm == "aws:kms" ? var.kms_key_arn : null
    }
    bucket_key_enabled = var.s3_sse_algorithm == "aws:kms"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  # One rule for the whole bucket. The optional actions are nested dynamic blocks rather
  # than extra dynamic rules, which checkov reads as replacing the static rule.
  rule {
    id     = "pgcdc-store"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_days
    }

    dynamic "noncurrent_version_expiration" {
      for_each = var.noncurrent_version_expiration_days == null ? [] : [var.noncurrent_version_expiration_days]

      content {
        noncurrent_days = noncurrent_version_expiration.value
      }
    }

    dynamic "transition" {
      for_each = var.transition_days == null ? [] : [var.transition_days]

      content {
        days          = transition.value
        storage_class = var.transition_storage_class
      }
    }
  }

  # Versioning must be on before a rule about noncurrent versions applies.
  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_policy" "tls_only" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [each.value.arn, "${each.value.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })

  # S3 rejects a bucket policy while the public access block is being changed.
  depends_on = [aws_s3_bucket_public_access_block.this]
}
