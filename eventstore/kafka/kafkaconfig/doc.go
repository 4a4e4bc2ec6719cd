// Package kafkaconfig connects sarama to secured Kafka clusters: it reads
// the client.properties files that Apache Kafka's own tools use
// (security.protocol, sasl.mechanism, sasl.jaas.config, PEM trust and key
// stores) into a [sarama.Config], and provides the SCRAM-SHA-256/512
// client (github.com/xdg-go/scram) and static OAUTHBEARER token provider
// that sarama needs but does not ship.
//
// # Supported keys
//
// [Properties.Apply] accepts exactly these keys and rejects any other with
// an error naming it (a silently ignored security setting is worse than a
// refusal):
//
//   - bootstrap.servers: host:port list (read with [Properties.Brokers];
//     Apply ignores it)
//   - client.id
//   - security.protocol: PLAINTEXT (default), SSL, SASL_PLAINTEXT, SASL_SSL
//   - sasl.mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER
//     (GSSAPI/Kerberos is not supported). When missing it is taken from the
//     login module of sasl.jaas.config.
//   - sasl.jaas.config: org.apache.kafka.common.security.plain.PlainLoginModule
//     or org.apache.kafka.common.security.scram.ScramLoginModule with
//     username="..." password="..."; for OAUTHBEARER the
//     OAuthBearerLoginModule with no options (the token comes from
//     sasl.oauthbearer.token)
//   - sasl.oauthbearer.token: a static OAUTHBEARER access token (a kafkaes
//     extension: Java clients fetch tokens with a callback handler instead)
//   - ssl.truststore.type: PEM (JKS and PKCS12 are refused with the keytool
//     command that converts them)
//   - ssl.truststore.location: PEM file of the CA certificates to trust
//     (default: the system's roots)
//   - ssl.truststore.certificates: the same PEM text inline
//   - ssl.keystore.type: PEM, for a client certificate (mutual TLS)
//   - ssl.keystore.location: PEM file holding the client's certificate chain
//     and its unencrypted PKCS#8 or PKCS#1 private key
//   - ssl.keystore.certificate.chain, ssl.keystore.key: the same PEM inline
//   - ssl.endpoint.identification.algorithm: https (default: the broker's
//     certificate must name the host dialled) or empty (the chain is still
//     verified, the host name is not)
//
// Encrypted private keys (ssl.key.password) are refused: decrypt the key
// with `openssl pkcs8 -topk8 -nocrypt` and protect the file instead.
package kafkaconfig
