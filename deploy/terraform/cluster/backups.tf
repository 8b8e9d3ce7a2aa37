# The etcd backup bucket: private, versioned, encrypted, TLS only. The control-plane node writes a snapshot every
# etcd_backup_interval_minutes and restores the newest one when the autoscaling group replaces it.

resource "aws_s3_bucket" "etcd_backups" {
  bucket_prefix = "${var.name}-etcd-"
  tags          = merge(local.tags, { Name = "${var.name}-etcd-backups" })
}

resource "aws_s3_bucket_ownership_controls" "etcd_backups" {
  bucket = aws_s3_bucket.etcd_backups.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "etcd_backups" {
  bucket                  = aws_s3_bucket.etcd_backups.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "etcd_backups" {
  bucket = aws_s3_bucket.etcd_backups.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_kms_key" "etcd_backups" {
  description         = "Encrypts the etcd snapshots of cluster ${var.name}"
  enable_key_rotation = true
  tags                = local.tags
}

resource "aws_s3_bucket_server_side_encryption_configuration" "etcd_backups" {
  bucket = aws_s3_bucket.etcd_backups.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.etcd_backups.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "etcd_backups" {
  bucket = aws_s3_bucket.etcd_backups.id

  rule {
    id     = "expire-old-snapshots"
    status = "Enabled"

    filter {
      prefix = "etcd/"
    }

    noncurrent_version_expiration {
      noncurrent_days = var.etcd_backup_noncurrent_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.etcd_backups]
}

data "aws_iam_policy_document" "etcd_backups_tls_only" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.etcd_backups.arn,
      "${aws_s3_bucket.etcd_backups.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "etcd_backups" {
  bucket = aws_s3_bucket.etcd_backups.id
  policy = data.aws_iam_policy_document.etcd_backups_tls_only.json

  depends_on = [aws_s3_bucket_public_access_block.etcd_backups]
}
