package gateway

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// LoadAdminToken returns the admin token from COPILOT_PROXY_ADMIN_TOKEN or
// the --admin-token-file; "" leaves the admin API off.
func LoadAdminToken(getenv func(string) string, file string) (string, error) {
	if t := strings.TrimSpace(getenv("COPILOT_PROXY_ADMIN_TOKEN")); t != "" {
		return checkAdminToken(t, "COPILOT_PROXY_ADMIN_TOKEN")
	}
	if file == "" {
		return "", nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("admin token file %s cannot be read: %v", file, errors.Unwrap(err))
	}
	return checkAdminToken(strings.TrimSpace(string(b)), "admin token file "+file)
}

// minAdminToken is the shortest admin token accepted: it guards key
// creation, so it must not be guessable.
const minAdminToken = 16

func checkAdminToken(t, source string) (string, error) {
	if len(t) < minAdminToken {
		return "", fmt.Errorf("%s: the admin token must be at least %d characters (e.g. openssl rand -hex 32)", source, minAdminToken)
	}
	return t, nil
}
