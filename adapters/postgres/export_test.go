package postgres

// ObserveStatements makes r report every statement it sends to fn, so that
// black-box tests can count round trips.
func ObserveStatements(r *FamilyRepository, fn func(query string)) { r.observe = fn }
