variable "name" {
  description = "Name of the cluster: prefixes every resource and tags them (kubernetes.io/cluster/<name>)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$", var.name))
    error_message = "The name must be a DNS-1123 label of at most 32 characters."
  }
}

variable "availability_zones" {
  description = "The three availability zones of the provider's region to spread subnets and nodes over."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) == 3 && length(distinct(var.availability_zones)) == 3
    error_message = "Give exactly three distinct availability zones."
  }
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC; security groups admit traffic from this block only (plus the load balancer's listeners)."
  type        = string
  default     = "10.40.0.0/16"
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all private subnets (cheaper) instead of one per zone (survives a zone outage)."
  type        = bool
  default     = false
}

variable "ami_id" {
  description = "AMI of every node, carrying etcd, the Kubernetes binaries at kubernetes_version and the AWS CLI."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes version the nodes run (passed to the node bootstrap scripts)."
  type        = string
  default     = "v1.30.6"
}

variable "control_plane_instance_type" {
  description = "Instance type of the control-plane node (etcd, API server, controller manager, scheduler)."
  type        = string
  default     = "m6i.large"
}

variable "worker_instance_type" {
  description = "Instance type of the worker nodes that run the teams' Jenkins, agents and applications."
  type        = string
  default     = "m6i.xlarge"
}

variable "worker_min_size" {
  description = "Fewest worker nodes; keep it a multiple of three so every zone has workers."
  type        = number
  default     = 3
}

variable "worker_max_size" {
  description = "Most worker nodes the autoscaling group may run."
  type        = number
  default     = 12
}

variable "lb_node_instance_type" {
  description = "Instance type of the load-balancer nodes (ingress controller) in the public subnets."
  type        = string
  default     = "c6i.large"
}

variable "lb_node_count" {
  description = "Number of load-balancer nodes, spread over the public subnets."
  type        = number
  default     = 3
}

variable "ingress_cidrs" {
  description = "Client CIDR blocks allowed to reach the load balancer's HTTP and HTTPS listeners."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "etcd_backup_interval_minutes" {
  description = "How often the control-plane node snapshots etcd to the backup bucket."
  type        = number
  default     = 15

  validation {
    condition     = var.etcd_backup_interval_minutes >= 1 && var.etcd_backup_interval_minutes <= 1440
    error_message = "The interval must be between 1 and 1440 minutes."
  }
}

variable "etcd_backup_noncurrent_days" {
  description = "Days an overwritten etcd snapshot version is kept before S3 expires it."
  type        = number
  default     = 30
}

variable "ssh_key_name" {
  description = "EC2 key pair for SSH to the nodes from inside the VPC; null for none."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
