package gemm

// SetPathForTest makes the named path active for package gemm_test's tests and returns a
// function restoring the previous one; it panics if the path is not supported here.
func SetPathForTest(name string) (restore func()) {
	old := setPath(name)
	return func() { active = old }
}

// PathNamesForTest returns the names of the paths this CPU and build support, slowest first.
func PathNamesForTest() []string {
	var names []string
	for _, p := range paths() {
		names = append(names, p.name)
	}
	return names
}
