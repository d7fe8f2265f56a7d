use super::*;

const VECTOR_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const VECTOR_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

#[test]
fn c2sp_test_vector_verifies() {
    let v = Verifier::from_key_text(VECTOR_VKEY).unwrap();
    assert_eq!(v.key_id(), 0x530d903a);
    assert_eq!(v.to_key_text(), VECTOR_VKEY);
    let opened = open(VECTOR_NOTE.as_bytes(), &[v]).unwrap();
    assert_eq!(opened.text, "This is an example message.\n");
    assert_eq!(opened.verified.len(), 1);
    assert!(opened.unverified.is_empty());
}

#[test]
fn our_notes_round_trip_and_keys_reparse() {
    let a = Signer::generate("log.example/a").unwrap();
    let b = Signer::generate("witness.example").unwrap();
    let again = Signer::from_key_text(&a.to_key_text()).unwrap();
    assert_eq!(again.verifier(), a.verifier());
    assert_eq!(
        Verifier::from_key_text(&a.verifier().to_key_text()).unwrap(),
        a.verifier()
    );

    let msg = sign("hello\nworld\n", &[&a, &b]).unwrap();
    let opened = open(msg.as_bytes(), &[a.verifier()]).unwrap();
    assert_eq!(opened.text, "hello\nworld\n");
    assert_eq!(opened.verified[0].name, "log.example/a");
    assert_eq!(opened.unverified.len(), 1);
    let both = open(msg.as_bytes(), &[a.verifier(), b.verifier()]).unwrap();
    assert_eq!(both.verified.len(), 2);
}

#[test]
fn bad_notes_get_precise_errors() {
    let v = Verifier::from_key_text(VECTOR_VKEY).unwrap();
    // Bad signature: flip one character of the text.
    let forged = VECTOR_NOTE.replace("example message", "example massage");
    assert!(matches!(
        open(forged.as_bytes(), std::slice::from_ref(&v)),
        Err(NoteError::InvalidSignature { .. })
    ));
    // Unknown key only.
    let other = Signer::generate("other").unwrap();
    assert_eq!(
        open(VECTOR_NOTE.as_bytes(), &[other.verifier()]),
        Err(NoteError::NoKnownSignature)
    );
    // Missing blank line.
    let no_blank = VECTOR_NOTE.replacen("\n\n", "\n", 1);
    assert_eq!(
        open(no_blank.as_bytes(), std::slice::from_ref(&v)),
        Err(NoteError::MissingSignatureBlock)
    );
    // Non-UTF-8 body.
    let mut bytes = VECTOR_NOTE.as_bytes().to_vec();
    bytes[3] = 0xff;
    assert_eq!(
        open(&bytes, std::slice::from_ref(&v)),
        Err(NoteError::NotUtf8)
    );
    // No trailing newline on the signature block.
    let cut = &VECTOR_NOTE[..VECTOR_NOTE.len() - 1];
    assert_eq!(
        open(cut.as_bytes(), std::slice::from_ref(&v)),
        Err(NoteError::MissingSignatureBlock)
    );
    // Garbage signature line.
    let junk = format!("{VECTOR_NOTE}- not a signature\n");
    assert!(matches!(
        open(junk.as_bytes(), std::slice::from_ref(&v)),
        Err(NoteError::BadSignatureLine(_))
    ));
    // Control character in the text.
    let s = Signer::generate("n").unwrap();
    assert_eq!(sign("a\tb\n", &[&s]), Err(NoteError::BadText));
    assert_eq!(sign("no newline", &[&s]), Err(NoteError::BadText));
    // Same known key signing twice.
    let line = VECTOR_NOTE.split("\n\n").nth(1).unwrap();
    let twice = format!("{VECTOR_NOTE}{line}");
    assert!(matches!(
        open(twice.as_bytes(), &[v]),
        Err(NoteError::DuplicateSignature { .. })
    ));
}

#[test]
fn bad_keys_are_rejected() {
    let s = Signer::generate("k").unwrap();
    let vtext = s.verifier().to_key_text();
    for bad in [
        "",
        "name",
        "name+1234+AAAA",
        "name+zzzzzzzz+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+AkyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "ex ample+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    ] {
        assert!(Verifier::from_key_text(bad).is_err(), "{bad}");
    }
    assert!(Signer::from_key_text(&vtext).is_err());
    let stext = s.to_key_text();
    let wrong_id = stext.replacen(&format!("{:08x}", s.key_id()), "00000000", 1);
    assert!(matches!(
        Signer::from_key_text(&wrong_id),
        Err(NoteError::KeyIdMismatch { .. })
    ));
}

proptest::proptest! {
    #[test]
    fn signed_notes_round_trip(lines in proptest::collection::vec("[a-zA-Z0-9 .:/+=-]{0,40}", 1..6)) {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let s = Signer::from_seed("prop.example", &[7u8; 32]).unwrap();
        let msg = sign(&text, &[&s]).unwrap();
        let opened = open(msg.as_bytes(), &[s.verifier()]).unwrap();
        proptest::prop_assert_eq!(opened.text, text);
    }

    #[test]
    fn open_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
        let v = Verifier::from_key_text(VECTOR_VKEY).unwrap();
        let _ = open(&bytes, &[v]);
    }
}
