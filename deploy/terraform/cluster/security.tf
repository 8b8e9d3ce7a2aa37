# Every node talks to every other node inside the VPC only; nothing from outside reaches a node, except the
# load balancer's HTTP and HTTPS listeners on the load-balancer nodes.

resource "aws_security_group" "nodes" {
  name        = "${var.name}-nodes"
  description = "Kubernetes nodes: traffic from inside the VPC only"
  vpc_id      = aws_vpc.this.id
  tags        = merge(local.tags, { Name = "${var.name}-nodes" })

  ingress {
    description = "All protocols from inside the VPC (API server, kubelet, overlay network, SSH)"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = [var.vpc_cidr]
  }

  egress {
    description = "Outbound through the NAT gateways (images, packages, S3)"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_security_group" "lb_listeners" {
  name        = "${var.name}-lb-listeners"
  description = "The load balancer's listeners on the load-balancer nodes: HTTP and HTTPS"
  vpc_id      = aws_vpc.this.id
  tags        = merge(local.tags, { Name = "${var.name}-lb-listeners" })

  ingress {
    description = "HTTP listener"
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = var.ingress_cidrs
  }

  ingress {
    description = "HTTPS listener"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = var.ingress_cidrs
  }
}
