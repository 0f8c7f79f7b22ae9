package testnode

// BridgeNetNamespaces lets the orphan test see the Pod network namespaces a dead node left.
var BridgeNetNamespaces = bridgeNetNamespaces
