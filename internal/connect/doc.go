// Package connect builds every Kafka client sluice creates (all franz-go's;
// no sarama client runs) from one connection setting: seed brokers and a
// sarama configuration, the struct users set, that carries sluice's
// defaults and, in its Net settings, the cluster's security.
//
// # Security
//
// [Security] says how to reach a secured cluster in librdkafka's terms
// (security.protocol, sasl.mechanism, ssl.ca.location, ...): TLS with a CA
// and a client certificate for mutual TLS, SASL PLAIN, SCRAM-SHA-256 and
// SCRAM-SHA-512. [Apply] writes it into a sarama configuration (with a
// SCRAM client on franz-go's implementation, for a sarama client a user
// builds from it), and [Opts] and [NewClient] give franz-go clients the
// connection of that configuration, so a setting made once reaches
// processors, views, emitters, provisioning, size checks, lag and the live
// page.
//
// # Errors
//
// [Check] tells a refused credential ([ErrAuthentication]) or certificate
// ([ErrTLS]) apart from a broker that is away: callers stop at the first,
// and retry the second.
//
// # Usage
//
//	cfg, err := connect.Apply(gokax.Config(), connect.Security{Protocol: "SASL_SSL",
//		Mechanism: "SCRAM-SHA-512", Username: "app", Password: pw, CAFile: "ca.pem"})
//	...
//	cl, err := connect.NewClient(brokers, cfg) // franz-go, same TLS and SASL
package connect
