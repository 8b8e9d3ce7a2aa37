# TLS for Consul (Consul 1.12+ `tls` stanza), from the Secret consul-tls (ca.crt, tls.crt, tls.key) that the operator
# creates; see deploy/README.md. Clients (Vault's storage backend) use the HTTPS API on 8501 and check the servers'
# certificate against the CA; the plain HTTP API answers on the pod's loopback only, for the readiness probe and
# `consul` commands run inside the pod. Servers talk RPC over TLS and check each other's certificate and name
# (server.buildplat.consul), so a pod that is not a server cannot join as one.
addresses {
  http = "127.0.0.1"
}

ports {
  https = 8501
}

tls {
  defaults {
    ca_file         = "/consul/tls/ca.crt"
    cert_file       = "/consul/tls/tls.crt"
    key_file        = "/consul/tls/tls.key"
    verify_outgoing = true
  }

  internal_rpc {
    verify_incoming        = true
    verify_server_hostname = true
  }

  https {
    verify_incoming = false
  }
}
