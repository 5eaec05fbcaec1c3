package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
)

// Tool is a tool function: string arguments in, text out.
type Tool func(context.Context, map[string]string) (string, error)

// Toolbox holds the agent's tools and counts their runs.
type Toolbox struct {
	calls atomic.Int64
	tools map[string]Tool
	specs []ToolSpec
}

// NewToolbox returns the agent's three tools: get_weather,
// convert_currency (which fails for a currency it does not know) and
// search_docs.
func NewToolbox() *Toolbox {
	tb := &Toolbox{tools: map[string]Tool{}}
	tb.add(ToolSpec{Name: "get_weather", Description: "Weather forecast for a city and day.", Params: []string{"city", "day"}}, getWeather)
	tb.add(ToolSpec{Name: "convert_currency", Description: "Convert an amount between ISO 4217 currencies.", Params: []string{"amount", "from", "to"}}, convertCurrency)
	tb.add(ToolSpec{Name: "search_docs", Description: "Search the travel guide.", Params: []string{"query"}}, searchDocs)
	return tb
}

func (tb *Toolbox) add(spec ToolSpec, fn Tool) {
	tb.specs = append(tb.specs, spec)
	tb.tools[spec.Name] = func(ctx context.Context, args map[string]string) (string, error) {
		tb.calls.Add(1)
		return fn(ctx, args)
	}
}

// Specs describes the tools to the model.
func (tb *Toolbox) Specs() []ToolSpec { return append([]ToolSpec(nil), tb.specs...) }

// Lookup returns the tool called name.
func (tb *Toolbox) Lookup(name string) (Tool, bool) {
	fn, ok := tb.tools[name]
	return fn, ok
}

// Calls returns how many tool runs there were.
func (tb *Toolbox) Calls() int64 { return tb.calls.Load() }

func getWeather(_ context.Context, args map[string]string) (string, error) {
	if args["city"] != "Lisbon" {
		return "", fmt.Errorf("no forecast for %q", args["city"])
	}
	return fmt.Sprintf("%s on %s: sunny, 24°C, light wind.", args["city"], args["day"]), nil
}

// rates are USD → currency.
var rates = map[string]float64{"USD": 1, "EUR": 0.92, "GBP": 0.79}

func convertCurrency(_ context.Context, args map[string]string) (string, error) {
	amount, err := strconv.ParseFloat(args["amount"], 64)
	if err != nil {
		return "", fmt.Errorf("amount %q is not a number", args["amount"])
	}
	from, ok := rates[args["from"]]
	if !ok {
		return "", fmt.Errorf("unknown currency %q (want an ISO 4217 code such as EUR)", args["from"])
	}
	to, ok := rates[args["to"]]
	if !ok {
		return "", fmt.Errorf("unknown currency %q (want an ISO 4217 code such as EUR)", args["to"])
	}
	return fmt.Sprintf("%.2f %s is %.2f %s.", amount, args["from"], amount/from*to, args["to"]), nil
}

var guide = map[string]string{
	"tile museum": "The National Tile Museum opens Tuesday to Sunday, 10:00 to 18:00.",
	"tram 28":     "Tram 28 runs every 10 minutes from Martim Moniz.",
}

func searchDocs(_ context.Context, args map[string]string) (string, error) {
	q := strings.ToLower(args["query"])
	for _, topic := range sortedKeys(guide) {
		if strings.Contains(q, topic) {
			return guide[topic], nil
		}
	}
	return "No match in the travel guide.", nil
}
