package password_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/trustelem/zxcvbn"

	"authd/adapters/password"
)

// longStrong is a 128-character password with no pattern zxcvbn recognises.
const longStrong = "gT4!mZq8@Lw2#Rk9$Vb7%Nc1^Hx5&Jp3*Yd6(Fs0)Ue8-Ko2_Ai4+Wl7=Qz1[Mr5]Bt9{Cv3}Xn6;Ey0:Gh2'Lj8,Pk4.Ds1/Ob7?Tw5<Uf3>Ic9|Sa6~Re2`Zm8a1!Q"

func TestCommonPasswords(t *testing.T) {
	t.Parallel()
	c := password.NewCommonPasswords()
	tests := []struct {
		name string
		pw   string
		want bool
	}{
		{"listed", "password", true},
		{"listed upper case", "PASSWORD", true},
		{"listed mixed case", "PaSsWoRd", true},
		{"digits", "123456789012", true},
		{"repeated word", "passwordpassword", true},
		{"one letter", "aaaaaaaaaaaa", true},
		{"keyboard walk", "qwertyuiopasdf", true},
		{"word and digits", "Password1234", true},
		{"phrase and digits", "iloveyou1234", true},
		{"alphabet", "abcdefghijkl", true},
		{"one symbol repeated", strings.Repeat("€", 128), true},
		{"non-ASCII unit repeated", strings.Repeat("äöü", 5), true},
		{"three symbols", "€€€ääääöööööö€", true},
		{"passphrase", "correct horse battery staple", false},
		{"random 12", "vT9#qLw2!zRk", false},
		{"words and digits", "tangerine-oblong-fjord-47", false},
		{"non-ASCII words", "Zürich-Ölberg-Ärger-Übel", false},
		{"random 128", longStrong, false},
		{"weak start, strong end", "passwordpassword" + longStrong[:20], false},
		{"long repeated word", strings.Repeat("password", 16), true},
		{"long keyboard walk", strings.Repeat("1qaz2wsx", 16), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := c.IsCommon(tt.pw); got != tt.want {
				t.Fatalf("IsCommon(%q) = %v, want %v", tt.pw, got, tt.want)
			}
		})
	}
}

// BenchmarkIsCommon measures the check on the longest accepted passwords,
// strong (one chunk decides) and weak (every chunk is scored).
func BenchmarkIsCommon(b *testing.B) {
	c := password.NewCommonPasswords()
	for _, bb := range []struct{ name, pw string }{
		{"strong128", longStrong},
		{"weak128", strings.Repeat("1qaz2wsx", 16)},
		{"symbols128", strings.Repeat("4@8(6310|7+52%!$", 8)},
		{"weakwords128", "p@$$w0rd1qaz2wsxletmein!dragon12345678qwertyuiopasdfghjklzxcvbnmP@ssw0rd!monkey123football1234567890abcdefghijklmnopqrstuvwxyz0987"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			for b.Loop() {
				c.IsCommon(bb.pw)
			}
		})
	}
}

// BenchmarkZxcvbn measures the library on inputs of growing length, which
// is why CommonPasswords scores long passwords in chunks. (128 characters
// take over a second per call, too slow to keep here.)
func BenchmarkZxcvbn(b *testing.B) {
	for _, n := range []int{16, 32, 64} {
		pw := longStrong[:n]
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				zxcvbn.PasswordStrength(pw, nil)
			}
		})
	}
}
