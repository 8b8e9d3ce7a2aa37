locals {
  api_endpoint = "https://${aws_lb.api.dns_name}:6443"
  node_user_data = {
    worker = templatefile("${path.module}/templates/node.sh.tftpl", {
      api_endpoint       = local.api_endpoint
      kubernetes_version = var.kubernetes_version
      node_labels        = "node-role.buildplat.dev/worker=true"
      node_taints        = ""
    })
    lb = templatefile("${path.module}/templates/node.sh.tftpl", {
      api_endpoint       = local.api_endpoint
      kubernetes_version = var.kubernetes_version
      node_labels        = "node-role.buildplat.dev/loadbalancer=true"
      node_taints        = "node-role.buildplat.dev/loadbalancer=true:NoSchedule"
    })
  }
}

# The API server sits behind an internal network load balancer, so a replaced control-plane node keeps its address.
resource "aws_lb" "api" {
  name_prefix        = "api-"
  internal           = true
  load_balancer_type = "network"
  subnets            = aws_subnet.private[*].id
  tags               = local.tags
}

resource "aws_lb_target_group" "api" {
  name_prefix = "api-"
  port        = 6443
  protocol    = "TCP"
  vpc_id      = aws_vpc.this.id
  tags        = local.tags

  health_check {
    protocol = "TCP"
    port     = "6443"
  }
}

resource "aws_lb_listener" "api" {
  load_balancer_arn = aws_lb.api.arn
  port              = 6443
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }
}

resource "aws_launch_template" "control_plane" {
  name_prefix            = "${var.name}-cp-"
  image_id               = var.ami_id
  instance_type          = var.control_plane_instance_type
  key_name               = var.ssh_key_name
  vpc_security_group_ids = [aws_security_group.nodes.id]
  user_data = base64encode(templatefile("${path.module}/templates/control-plane.sh.tftpl", {
    bucket             = aws_s3_bucket.etcd_backups.id
    interval_minutes   = var.etcd_backup_interval_minutes
    kubernetes_version = var.kubernetes_version
    api_endpoint       = local.api_endpoint
  }))

  iam_instance_profile {
    arn = aws_iam_instance_profile.control_plane.arn
  }

  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = "${var.name}-control-plane" })
  }
}

# min = max = 1: when the node dies, the group starts a new one in any zone, which restores etcd from S3.
resource "aws_autoscaling_group" "control_plane" {
  name_prefix               = "${var.name}-cp-"
  min_size                  = 1
  max_size                  = 1
  desired_capacity          = 1
  vpc_zone_identifier       = aws_subnet.private[*].id
  target_group_arns         = [aws_lb_target_group.api.arn]
  health_check_type         = "ELB"
  health_check_grace_period = 600

  launch_template {
    id      = aws_launch_template.control_plane.id
    version = aws_launch_template.control_plane.latest_version
  }

  dynamic "tag" {
    for_each = merge(local.tags, { Name = "${var.name}-control-plane" })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}

resource "aws_launch_template" "node" {
  for_each               = local.node_user_data
  name_prefix            = "${var.name}-${each.key}-"
  image_id               = var.ami_id
  instance_type          = each.key == "lb" ? var.lb_node_instance_type : var.worker_instance_type
  key_name               = var.ssh_key_name
  vpc_security_group_ids = each.key == "lb" ? [aws_security_group.nodes.id, aws_security_group.lb_listeners.id] : [aws_security_group.nodes.id]
  user_data              = base64encode(each.value)

  iam_instance_profile {
    arn = aws_iam_instance_profile.node.arn
  }

  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = "${var.name}-${each.key}" })
  }
}

# Workers spread over the three private subnets (one per zone); the group balances them across zones.
resource "aws_autoscaling_group" "workers" {
  name_prefix         = "${var.name}-workers-"
  min_size            = var.worker_min_size
  max_size            = var.worker_max_size
  vpc_zone_identifier = aws_subnet.private[*].id

  launch_template {
    id      = aws_launch_template.node["worker"].id
    version = aws_launch_template.node["worker"].latest_version
  }

  dynamic "tag" {
    for_each = merge(local.tags, { Name = "${var.name}-worker" })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}

# Load-balancer nodes in the public subnets, labelled for the ingress controller and tainted for it alone.
resource "aws_autoscaling_group" "lb_nodes" {
  name_prefix         = "${var.name}-lb-"
  min_size            = var.lb_node_count
  max_size            = var.lb_node_count
  vpc_zone_identifier = aws_subnet.public[*].id
  target_group_arns   = [aws_lb_target_group.ingress["http"].arn, aws_lb_target_group.ingress["https"].arn]

  launch_template {
    id      = aws_launch_template.node["lb"].id
    version = aws_launch_template.node["lb"].latest_version
  }

  dynamic "tag" {
    for_each = merge(local.tags, { Name = "${var.name}-lb" })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}

# The public entry point: a network load balancer whose listeners forward to the load-balancer nodes.
resource "aws_lb" "ingress" {
  name_prefix        = "ing-"
  internal           = false
  load_balancer_type = "network"
  subnets            = aws_subnet.public[*].id
  tags               = local.tags
}

resource "aws_lb_target_group" "ingress" {
  for_each    = { http = 80, https = 443 }
  name_prefix = "${each.key == "http" ? "http" : "tls"}-"
  port        = each.value
  protocol    = "TCP"
  vpc_id      = aws_vpc.this.id
  tags        = local.tags
}

resource "aws_lb_listener" "ingress" {
  for_each          = aws_lb_target_group.ingress
  load_balancer_arn = aws_lb.ingress.arn
  port              = each.value.port
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = each.value.arn
  }
}
