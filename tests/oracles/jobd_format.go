// Oracle for the text of barto's jobd files: what jobd itself would print, with Go's own
// time.Time.String() and gorhill/cronexpr (Debian's golang-github-gorhill-cronexpr-dev).
// Reads lines "time<TAB>zone<TAB>epoch microseconds" (prints the time as jobd's log does) or
// "schedule<TAB>zone<TAB>epoch microseconds<TAB>expression" (prints jobd's schedule file of a
// started job at that moment: expression ":" Next(now).String()).
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
		loc, err := time.LoadLocation(f[1])
		if err != nil {
			fmt.Println("ERR " + err.Error())
			continue
		}
		micros, _ := strconv.ParseInt(f[2], 10, 64)
		at := time.Unix(0, micros*1000).In(loc)
		if f[0] == "time" {
			fmt.Println(at.String())
			continue
		}
		expr, err := cronexpr.Parse(f[3])
		if err != nil {
			fmt.Println("ERR " + err.Error())
			continue
		}
		fmt.Println(f[3] + ":" + expr.Next(at).String())
	}
}
