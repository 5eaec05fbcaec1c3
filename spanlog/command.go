package spanlog

import (
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/agentrr/agentrr/boundary"
)

// The command line of a run.
//
// A run's header records how the process that recorded it was started
// (boundary.Command), so that `agentrr replay <id>` can start it again:
//
//   - the arguments (os.Args), each with secrets redacted (RedactArgs);
//   - the working directory the process started in;
//   - the absolute path of its executable (os.Executable).
//
// Nothing of the environment is recorded: environment variables are where
// API keys live, and a replay makes no network call. A replay runs with
// the environment of whoever starts it.

// redactedValue replaces a secret in a recorded argument.
const redactedValue = "[redacted]"

// startDir is the working directory when the process started (package
// variables are set before main runs), not where it may have moved since.
var startDir, _ = os.Getwd()

// CurrentCommand returns the command line of this process, redacted: what
// CreateRun records in a header that has none. It is nil when the process
// has no arguments.
var CurrentCommand = sync.OnceValue(func() *boundary.Command {
	if len(os.Args) == 0 {
		return nil
	}
	args, n := RedactArgs(os.Args)
	exe, _ := os.Executable()
	return &boundary.Command{Args: args, Dir: startDir, Executable: exe, Redacted: n}
})

// RedactArgs returns args with every secret replaced by "[redacted]", and
// the number of arguments changed. What counts as a secret:
//
//   - the value of a flag named like one, given as --name=value or as the
//     argument after --name: a name with a word token, secret, password,
//     passwd, pwd, credential(s), cookie, auth, authorization, bearer or
//     apikey, or the words api key, access key, private key, session key
//     (words split at '-', '_' and '.'; "--max-tokens" is not a secret);
//   - the value of NAME=value arguments (as given to env) with such a name;
//   - the password of a URL (https://user:[redacted]@host) and the values
//     of URL query parameters with such names;
//   - anything that looks like a credential wherever it appears: an
//     "Authorization:"/"Bearer" value, OpenAI, Anthropic, GitHub, Slack,
//     Google and AWS key formats, JSON Web Tokens.
//
// Argument 0 (the program) is kept as it is, but for credentials inside it.
func RedactArgs(args []string) ([]string, int) {
	out := make([]string, len(args))
	n := 0
	redactNext := false
	for i, a := range args {
		r := a
		switch {
		case redactNext:
			r = redactedValue
			redactNext = false
		case i > 0 && strings.HasPrefix(a, "-") && len(a) > 1:
			name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if secretName(name) {
				if hasValue {
					r = a[:len(a)-len(value)] + redactedValue
				} else if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
					redactNext = true
				}
			}
		case i > 0 && strings.Contains(a, "=") && !strings.Contains(a, "://"):
			if name, _, _ := strings.Cut(a, "="); secretName(name) && !strings.ContainsAny(name, " /") {
				r = name + "=" + redactedValue
			}
		}
		if r == a {
			r = redactInside(a)
		}
		if r != a {
			n++
		}
		out[i] = r
	}
	return out, n
}

// secretName reports whether a flag or variable name names a secret.
func secretName(name string) bool {
	words := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool { return r == '-' || r == '_' || r == '.' })
	if len(words) == 1 && words[0] == "key" {
		return true
	}
	for i, w := range words {
		switch w {
		case "token", "secret", "password", "passwd", "pwd", "credential", "credentials", "cookie", "auth", "authorization", "bearer", "apikey":
			return true
		case "key":
			if i > 0 {
				switch words[i-1] {
				case "api", "access", "private", "session", "secret", "signing":
					return true
				}
			}
		}
	}
	return false
}

// credentialPatterns match credentials wherever they appear in an argument.
var credentialPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}`),
	regexp.MustCompile(`(?i)\b(authorization|x-api-key|api-key|cookie)\s*:\s*\S.*`),
	regexp.MustCompile(`\bsk-[A-Za-z0-9_-]{16,}`),
	regexp.MustCompile(`\b(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}`),
	regexp.MustCompile(`\bgithub_pat_[A-Za-z0-9_]{20,}`),
	regexp.MustCompile(`\bxox[abprs]-[A-Za-z0-9-]{10,}`),
	regexp.MustCompile(`\bAKIA[0-9A-Z]{16}\b`),
	regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{30,}`),
	regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`),
}

// redactInside redacts credentials inside one argument: URL passwords and
// secret query parameters, and credentialPatterns.
func redactInside(a string) string {
	if i := strings.Index(a, "://"); i > 0 {
		a = a[:i+3] + redactURLRest(a[i+3:])
	}
	for _, re := range credentialPatterns {
		a = re.ReplaceAllStringFunc(a, func(m string) string {
			// Keep the scheme or header name: "Bearer [redacted]".
			if i := strings.IndexAny(m, " :"); i > 0 && i < 20 {
				j := i
				for j < len(m) && (m[j] == ' ' || m[j] == ':') {
					j++
				}
				return m[:j] + redactedValue
			}
			return redactedValue
		})
	}
	return a
}

// redactURLRest redacts the password and the secret query values of what
// follows a URL's "scheme://", leaving every other byte as it was.
func redactURLRest(rest string) string {
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		if c := strings.Index(rest[:at], ":"); c >= 0 {
			rest = rest[:c+1] + redactedValue + rest[at:]
		}
	}
	q := strings.Index(rest, "?")
	if q < 0 {
		return rest
	}
	query, frag, hasFrag := strings.Cut(rest[q+1:], "#")
	params := strings.Split(query, "&")
	for i, p := range params {
		if k, _, ok := strings.Cut(p, "="); ok {
			if name, err := url.QueryUnescape(k); err == nil && secretName(name) {
				params[i] = k + "=" + redactedValue
			}
		}
	}
	rest = rest[:q+1] + strings.Join(params, "&")
	if hasFrag {
		rest += "#" + frag
	}
	return rest
}
