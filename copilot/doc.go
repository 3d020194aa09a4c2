// Package copilot talks to the GitHub Copilot upstream: it exchanges a GitHub
// OAuth token for short-lived Copilot tokens (Auth), keeps one valid token at
// all times (TokenManager), and sends requests to the Copilot API with the
// editor identity headers and the current token (Client).
//
// It imports no package of the project, only the standard library and
// zerolog (loggers are passed in). Secrets — the GitHub token and Copilot
// tokens — never appear in a log line, an error message or a String method.
package copilot
