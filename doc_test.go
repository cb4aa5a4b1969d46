package lpwindow_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lpwindow/lpwindow"
)

// TestExportedNamesHaveDocComments checks the public packages: every
// exported type, function, method, constant and variable is documented
// (a grouped const or var block may carry the comment for its members).
func TestExportedNamesHaveDocComments(t *testing.T) {
	for _, dir := range []string{".", "lpwindowtest"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		require.NoError(t, err)
		require.NotEmpty(t, files, dir)
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ParseComments)
			require.NoError(t, err)
			for _, missing := range undocumented(f) {
				t.Errorf("%s: %s has no doc comment", name, missing)
			}
		}
	}
}

// undocumented lists the exported declarations of f without a doc comment.
func undocumented(f *ast.File) []string {
	var out []string
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if d.Name.IsExported() && (d.Recv == nil || exportedRecv(d.Recv)) && d.Doc == nil {
				out = append(out, "func "+d.Name.Name)
			}
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				switch s := spec.(type) {
				case *ast.TypeSpec:
					if s.Name.IsExported() && s.Doc == nil && d.Doc == nil {
						out = append(out, "type "+s.Name.Name)
					}
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if n.IsExported() && s.Doc == nil && d.Doc == nil && s.Comment == nil {
							out = append(out, n.Name)
						}
					}
				}
			}
		}
	}
	return out
}

func exportedRecv(fl *ast.FieldList) bool {
	if len(fl.List) == 0 {
		return false
	}
	typ := fl.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	id, ok := typ.(*ast.Ident)
	return ok && id.IsExported()
}

func TestDocumentedClientProperties(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("..", "shared", "protocol", "examples", "other_ClientProperties_*.json"))
	if len(paths) == 0 {
		t.Skip("../shared/protocol/examples not present")
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		var props lpwindow.ClientProperties
		require.NoError(t, jsonUnmarshal(b, &props), p)
		assert.NoError(t, props.Validate(), "%s: every documented value is accepted", p)
	}
}
func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
