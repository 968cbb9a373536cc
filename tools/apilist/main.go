// Command apilist prints the exported API of a Go module's public packages,
// one line per exported name, sorted, in the manner of the Go project's
// api/*.txt files:
//
//	pkg github.com/identitycall/idctrace, func New(http.RoundTripper, ...Option) *Transport
//	pkg github.com/identitycall/idctrace, method (*Transport) RoundTrip(*http.Request) (*http.Response, error)
//	pkg github.com/identitycall/idctrace, type APIError struct, Status int
//
// Usage:
//
//	apilist DIR
//
// DIR is the module's directory. Its public packages are those that
// `go list ./...` finds there, less main packages and any package under an
// internal directory; tests are not read. Listed are constants (type and
// value), variables, functions, types (with their exported fields, interface
// methods and the exported methods of T and *T, promoted ones included).
// Parameter names are left out: renaming one does not change the API.
//
// .ci/api compares its output with the files checked in under api/.
package main

import (
	"fmt"
	"go/types"
	"log"
	"os"
	"slices"
	"strings"

	"golang.org/x/tools/go/packages"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("apilist: ")
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: apilist DIR")
		os.Exit(2)
	}
	lines, err := list(os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range lines {
		fmt.Println(l)
	}
}

// list returns the sorted API lines of the module in dir.
func list(dir string) ([]string, error) {
	cfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedTypes,
		Dir:  dir,
	}
	pkgs, err := packages.Load(cfg, "./...")
	if err != nil {
		return nil, err
	}
	if packages.PrintErrors(pkgs) > 0 {
		return nil, fmt.Errorf("%s: packages did not load", dir)
	}
	var lines []string
	for _, p := range pkgs {
		if p.Name == "main" || isInternal(p.PkgPath) {
			continue
		}
		lines = append(lines, pkgLines(p.Types)...)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%s: no exported API found", dir)
	}
	slices.Sort(lines)
	return lines, nil
}

func isInternal(path string) bool {
	for _, elem := range strings.Split(path, "/") {
		if elem == "internal" {
			return true
		}
	}
	return false
}

// pkgLines returns the lines of one package's exported names.
func pkgLines(pkg *types.Package) []string {
	// Other packages are named as in source: http.Request, not net/http.Request.
	qual := func(other *types.Package) string {
		if other == pkg {
			return ""
		}
		return other.Name()
	}
	typ := func(t types.Type) string { return types.TypeString(t, qual) }

	var lines []string
	emit := func(format string, args ...any) {
		lines = append(lines, "pkg "+pkg.Path()+", "+fmt.Sprintf(format, args...))
	}
	scope := pkg.Scope()
	for _, name := range scope.Names() {
		obj := scope.Lookup(name)
		if !obj.Exported() {
			continue
		}
		switch obj := obj.(type) {
		case *types.Const:
			emit("const %s %s = %s", name, typ(obj.Type()), obj.Val().ExactString())
		case *types.Var:
			emit("var %s %s", name, typ(obj.Type()))
		case *types.Func:
			sig := obj.Type().(*types.Signature)
			emit("func %s%s%s", name, typeParams(sig.TypeParams(), typ), signature(sig, typ))
		case *types.TypeName:
			typeLines(obj, typ, emit)
		}
	}
	return lines
}

// typeLines emits a type's line, then one per exported field, interface
// method, or method in the method sets of T and *T.
func typeLines(obj *types.TypeName, typ func(types.Type) string, emit func(string, ...any)) {
	name := obj.Name()
	if obj.IsAlias() {
		emit("type %s = %s", name, typ(types.Unalias(obj.Type())))
		return
	}
	named := obj.Type().(*types.Named)
	decl := name + typeParams(named.TypeParams(), typ)
	switch u := named.Underlying().(type) {
	case *types.Struct:
		emit("type %s struct", decl)
		for f := range u.Fields() {
			switch {
			case !f.Exported():
			case f.Embedded():
				emit("type %s struct, embedded %s", name, typ(f.Type()))
			default:
				emit("type %s struct, %s %s", name, f.Name(), typ(f.Type()))
			}
		}
	case *types.Interface:
		var names []string
		unexported := false
		for m := range u.Methods() {
			if !m.Exported() {
				unexported = true
				continue
			}
			names = append(names, m.Name())
			emit("type %s interface, %s%s", name, m.Name(), signature(m.Type().(*types.Signature), typ))
		}
		if unexported {
			names = append(names, "unexported methods")
		}
		emit("type %s interface { %s }", decl, strings.Join(names, ", "))
		return // an interface's methods are listed above
	default:
		emit("type %s %s", decl, typ(u))
	}

	seen := map[string]bool{}
	for _, recv := range []types.Type{named, types.NewPointer(named)} {
		ms := types.NewMethodSet(recv)
		for sel := range ms.Methods() {
			m := sel.Obj()
			if !m.Exported() || seen[m.Name()] {
				continue
			}
			seen[m.Name()] = true
			r := name
			if _, ok := recv.(*types.Pointer); ok {
				r = "*" + name
			}
			emit("method (%s) %s%s", r, m.Name(), signature(m.Type().(*types.Signature), typ))
		}
	}
}

// signature returns sig's parameter and result types without their names,
// "(string, ...Option) (*T, error)".
func signature(sig *types.Signature, typ func(types.Type) string) string {
	var b strings.Builder
	b.WriteString("(")
	for i := range sig.Params().Len() {
		if i > 0 {
			b.WriteString(", ")
		}
		t := sig.Params().At(i).Type()
		if sig.Variadic() && i == sig.Params().Len()-1 {
			b.WriteString("..." + typ(t.(*types.Slice).Elem()))
		} else {
			b.WriteString(typ(t))
		}
	}
	b.WriteString(")")
	switch res := sig.Results(); res.Len() {
	case 0:
	case 1:
		b.WriteString(" " + typ(res.At(0).Type()))
	default:
		b.WriteString(" (")
		for i := range res.Len() {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(typ(res.At(i).Type()))
		}
		b.WriteString(")")
	}
	return b.String()
}

// typeParams returns "[T any, ...]", or "" for a type or function that has none.
func typeParams(tps *types.TypeParamList, typ func(types.Type) string) string {
	if tps.Len() == 0 {
		return ""
	}
	var parts []string
	for tp := range tps.TypeParams() {
		parts = append(parts, tp.Obj().Name()+" "+typ(tp.Constraint()))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
