package analyze_test

import (
	"fmt"

	"github.com/agentrr/agentrr/analyze"
)

func ExampleDiffJSON() {
	recorded := []byte(`{"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Where is order 42?"}],"model":"fake-gpt","temperature":0.7}`)
	replayed := []byte(`{"messages":[{"role":"system","content":"You are a terse assistant."},{"role":"user","content":"Where is order 42?"}],"model":"fake-gpt","tools":[{"name":"lookup_order"}]}`)

	for _, c := range analyze.DiffJSON(recorded, replayed) {
		switch c.Op {
		case analyze.OpAdded:
			fmt.Printf("+ %s: %s\n", c.Path, c.Observed)
		case analyze.OpRemoved:
			fmt.Printf("- %s: %s\n", c.Path, c.Expected)
		default:
			fmt.Printf("  %s: %s → %s\n", c.Path, c.Expected, c.Observed)
		}
	}
	// Output:
	//   messages[0].content: "You are a helpful assistant." → "You are a terse assistant."
	// - temperature: 0.7
	// + tools: [{"name":"lookup_order"}]
}

func ExamplePreview() {
	fmt.Println(analyze.Preview([]byte(`{
		"model": "fake-gpt",
		"messages": [{"role": "user", "content": "Where is order 42?"}]
	}`), 40))
	// Output:
	// {"model":"fake-gpt","messages":[{"role"…
}
