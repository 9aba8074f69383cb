package kafkareal

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Config describes a cluster for [Start]. The zero value is one node on
// free loopback ports in a temporary directory.
type Config struct {
	// Nodes is the number of nodes, each a KRaft controller and a broker
	// (combined mode); 0 means 1. With 3, a majority of controllers survives
	// one node down, and topics can have replication 3.
	Nodes int
	// Dir holds each node's configuration, data and log (DIR/node-N). ""
	// means a temporary directory, removed by [Cluster.Close]. A Dir that
	// holds a cluster already is started again as it was (ports included).
	Dir string
	// Port is the first node's client (PLAINTEXT) port; 0 picks free ports
	// for every listener.
	Port int
	// Heap is the JVM's maximum heap per node; "" means 256m.
	Heap string
	// JVMOptions are added to each node's java command line (see
	// [FastStart]).
	JVMOptions []string
	// Secure adds a listener with TLS (and SASL) to every node.
	Secure *Listener
	// Properties are added to (and override) each node's server.properties.
	Properties map[string]string
}

// FastStart is the JVM option of test clusters: only the client compiler
// (C1), which compiles less, sooner. A 3-node cluster started in 6.5-17 s
// with it and 14.5-24 s without, alternated on 2 cores at load 12-16; the
// brokers of a test do little work a better compiler would pay back.
const FastStart = "-XX:TieredStopAtLevel=1"

// Listener is an extra listener on every node, next to the PLAINTEXT one
// that brokers use among themselves.
type Listener struct {
	// Protocol is SASL_SSL (the default) or SSL.
	Protocol string
	// CertFile and KeyFile are the broker's certificate (chain) and its
	// unencrypted PKCS#8 private key, in PEM. The certificate must name
	// 127.0.0.1. Without them, [Start] makes a CA and certificates for the
	// brokers and a client in DIR/certs: see [Cluster.Certs].
	CertFile, KeyFile string
	// ClientCAFile, if set, makes a client certificate signed by that CA
	// (PEM) required: mutual TLS.
	ClientCAFile string
	// Plain are the users and passwords SASL/PLAIN accepts. SCRAM users are
	// added to the running cluster with [Cluster.AddSCRAM].
	Plain map[string]string
}

// protocol returns the listener's security protocol.
func (l *Listener) protocol() string {
	if l.Protocol == "" {
		return "SASL_SSL"
	}
	return l.Protocol
}

// Mechanisms are the SASL mechanisms a [Listener] with SASL enables.
var Mechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// properties returns server.properties of node n (1-based) of c.
func (c *Cluster) properties(n *Node) string {
	rf := min(3, len(c.nodes))
	var voters []string
	for _, o := range c.nodes {
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", o.ID, o.controllerPort))
	}
	listeners := fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", n.port, n.controllerPort)
	advertised := fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", n.port)
	p := map[string]string{
		"process.roles":                            "broker,controller",
		"node.id":                                  strconv.Itoa(n.ID),
		"controller.quorum.voters":                 strings.Join(voters, ","),
		"controller.listener.names":                "CONTROLLER",
		"inter.broker.listener.name":               "PLAINTEXT",
		"listener.security.protocol.map":           "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL",
		"log.dirs":                                 n.dir + "/data",
		"offsets.topic.replication.factor":         strconv.Itoa(rf),
		"transaction.state.log.replication.factor": strconv.Itoa(rf),
		"transaction.state.log.min.isr":            strconv.Itoa(min(2, rf)),
		// Kafka's 50 partitions each are 50 more replicas per node to elect
		// and load on every start; 10 still spread group and transaction
		// coordinators over every node.
		"offsets.topic.num.partitions":                     "10",
		"transaction.state.log.num.partitions":             "10",
		"group.initial.rebalance.delay.ms":                 "0", // as Kafka's own config/server.properties
		"auto.create.topics.enable":                        "false",
		"num.network.threads":                              "2",
		"num.io.threads":                                   "2",
		"background.threads":                               "2",
		"num.recovery.threads.per.data.dir":                "1",
		"num.replica.fetchers":                             "1",
		"log.cleaner.threads":                              "1",
		"log.cleaner.dedupe.buffer.size":                   strconv.Itoa(8 << 20), // 128 MiB of heap by default
		"share.coordinator.state.topic.replication.factor": strconv.Itoa(rf),
		"share.coordinator.state.topic.min.isr":            strconv.Itoa(min(2, rf)),
	}
	if l := c.cfg.Secure; l != nil {
		proto := l.protocol()
		name := strings.ToLower(proto)
		listeners += fmt.Sprintf(",%s://127.0.0.1:%d", proto, n.securePort)
		advertised += fmt.Sprintf(",%s://127.0.0.1:%d", proto, n.securePort)
		p["listener.name."+name+".ssl.keystore.type"] = "PEM"
		p["listener.name."+name+".ssl.keystore.location"] = c.dir + "/keystore.pem"
		if l.ClientCAFile != "" {
			p["listener.name."+name+".ssl.truststore.type"] = "PEM"
			p["listener.name."+name+".ssl.truststore.location"] = l.ClientCAFile
			p["listener.name."+name+".ssl.client.auth"] = "required"
		}
		if proto == "SASL_SSL" {
			p["sasl.enabled.mechanisms"] = strings.Join(Mechanisms, ",")
			plain := "org.apache.kafka.common.security.plain.PlainLoginModule required"
			for _, u := range slices.Sorted(maps.Keys(l.Plain)) {
				plain += fmt.Sprintf(" user_%s=%q", u, l.Plain[u])
			}
			p["listener.name."+name+".plain.sasl.jaas.config"] = plain + ";"
			for _, m := range []string{"scram-sha-256", "scram-sha-512"} {
				p["listener.name."+name+"."+m+".sasl.jaas.config"] = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
			}
		}
	}
	p["listeners"] = listeners
	p["advertised.listeners"] = advertised
	maps.Copy(p, c.cfg.Properties)
	var b strings.Builder
	b.WriteString("# written by sluice's internal/kafkareal\n")
	for _, k := range slices.Sorted(maps.Keys(p)) {
		fmt.Fprintf(&b, "%s=%s\n", k, escape(p[k]))
	}
	return b.String()
}

// escape escapes a value for a Java properties file.
func escape(v string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(v)
}

// log4j is the brokers' logging configuration: Kafka's INFO, minus the
// per-request chatter, to the node's server.log.
const log4j = `status = error
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
logger.appinfo.name = org.apache.kafka.common.utils.AppInfoParser
logger.appinfo.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
`
