package kafkatest

import "net"

type netListener = net.Listener

// listenLoopback listens on a random port of 127.0.0.1 only, never on all
// interfaces.
func listenLoopback(network string) (net.Listener, error) {
	return net.Listen(network, "127.0.0.1:0")
}
