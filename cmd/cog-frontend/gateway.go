package main

// runAsGatewayFrontend runs the BuildKit gateway frontend when BuildKit
// started this process, and reports whether it did. Owned by the frontend
// work; until then it never claims the process.
func runAsGatewayFrontend() bool { return false }
