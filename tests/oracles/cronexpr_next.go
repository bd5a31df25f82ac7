// Oracle for barto's jobd dialect: gorhill/cronexpr itself (Debian's
// golang-github-gorhill-cronexpr-dev), the parser jobd uses. Reads
// "expression<TAB>zone<TAB>base epoch seconds<TAB>count" lines; prints "ERR <message>" or the
// next fire times as epoch seconds ("PANIC <message>" where cronexpr itself panics).
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gorhill/cronexpr"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Split(in.Text(), "\t")
		fmt.Println(answer(f[0], f[1], f[2], f[3]))
	}
}

func answer(text, zone, base, count string) (reply string) {
	defer func() { // cronexpr panics on some expressions that produce no values
		if r := recover(); r != nil {
			reply = "PANIC " + strings.ReplaceAll(fmt.Sprint(r), "\n", " ")
		}
	}()
	expr, err := cronexpr.Parse(text)
	if err != nil {
		return "ERR " + strings.ReplaceAll(err.Error(), "\n", " ")
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return "ERR " + err.Error()
	}
	seconds, _ := strconv.ParseInt(base, 10, 64)
	n, _ := strconv.Atoi(count)
	t := time.Unix(seconds, 0).In(loc)
	out := []string{}
	for i := 0; i < n; i++ {
		t = expr.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, strconv.FormatInt(t.Unix(), 10))
	}
	return strings.Join(out, " ")
}
