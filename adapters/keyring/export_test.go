package keyring_test

import "authd/domain"

func domainSecret(kid string, ct []byte) domain.SealedSecret {
	return domain.SealedSecret{KeyID: kid, Ciphertext: ct}
}
