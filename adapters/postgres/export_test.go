package postgres

// ObserveStatements makes r report every prepared statement it sends, with
// its arguments, to fn, so that black-box tests can count round trips and
// see what was sent.
func ObserveStatements(r *FamilyRepository, fn func(query string, args []any)) { r.observe = fn }

// BySessionSQL is the statement UserRepository.ByLiveSession sends.
var BySessionSQL = bySessionSQL
