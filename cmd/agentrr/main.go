// Command agentrr records and replays AI agent runs. See the README.
package main

import (
	"os"

	"github.com/agentrr/agentrr/internal/agentrrcmd"
)

func main() {
	os.Exit(agentrrcmd.Main())
}
