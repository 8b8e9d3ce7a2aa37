data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

# The control plane may read and write etcd snapshots, and nothing else in the bucket's account.
data "aws_iam_policy_document" "control_plane" {
  statement {
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.etcd_backups.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["etcd/*"]
    }
  }

  statement {
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.etcd_backups.arn}/etcd/*"]
  }

  statement {
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.etcd_backups.arn]
  }
}

resource "aws_iam_role" "control_plane" {
  name_prefix        = "${var.name}-cp-"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "control_plane" {
  name   = "etcd-backups"
  role   = aws_iam_role.control_plane.id
  policy = data.aws_iam_policy_document.control_plane.json
}

resource "aws_iam_instance_profile" "control_plane" {
  name_prefix = "${var.name}-cp-"
  role        = aws_iam_role.control_plane.name
  tags        = local.tags
}

resource "aws_iam_role" "node" {
  name_prefix        = "${var.name}-node-"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
  tags               = local.tags
}

resource "aws_iam_instance_profile" "node" {
  name_prefix = "${var.name}-node-"
  role        = aws_iam_role.node.name
  tags        = local.tags
}
