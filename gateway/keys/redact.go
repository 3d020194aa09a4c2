package keys

// RedactURL is rawURL fit for logs, errors and printed settings: the
// userinfo password and every password query parameter (password,
// sslpassword) masked. A URL that does not parse is named by its scheme
// only, since where its password sits cannot be known. The command line's
// config print uses it so that it masks exactly what the store's own
// messages mask.
func RedactURL(rawURL string) string { return redactURL(rawURL) }

// URLPassword is the password in rawURL (userinfo or a password query
// parameter), "" if none can be found, including when rawURL does not
// parse. Callers that must refuse a secret in a readable place should
// therefore also treat an unparsable URL as possibly holding one.
func URLPassword(rawURL string) string { return urlPassword(rawURL) }
