use std::io::Write as _;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::*;

const W: &str = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";

fn zip_of(parts: &[(&str, &[u8])], method: CompressionMethod) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(method);
    for (name, body) in parts {
        w.start_file(*name, options).unwrap();
        w.write_all(body).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn document(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
         <w:document xmlns:w=\"{W}\" \
         xmlns:mc=\"http://schemas.openxmlformats.org/markup-compatibility/2006\">\
         <w:body>{body}<w:sectPr><w:pgSz w:w=\"12240\"/></w:sectPr></w:body></w:document>"
    )
}

fn docx(body: &str) -> Vec<u8> {
    zip_of(
        &[
            ("[Content_Types].xml", b"<Types/>"),
            (DOCUMENT, document(body).as_bytes()),
        ],
        CompressionMethod::Stored,
    )
}

fn p(text: &str) -> String {
    format!("<w:p><w:r><w:t xml:space=\"preserve\">{text}</w:t></w:r></w:p>")
}

fn extract(bytes: &[u8]) -> Result<Extracted, ExtractError> {
    extract_docx(bytes, &Limits::default())
}

fn code(r: Result<Extracted, ExtractError>) -> ExtractFailureCode {
    match r {
        Err(ExtractError::Failed { code, .. }) => code,
        other => panic!("{other:?}"),
    }
}

const FILLER: &str = "This Agreement is made between the parties named below.";

#[test]
fn paragraphs_tabs_and_breaks() {
    let body = format!(
        "{}<w:p><w:pPr><w:tabs><w:tab w:val=\"left\" w:pos=\"720\"/></w:tabs>\
         <w:rPr><w:b/></w:rPr></w:pPr>\
         <w:r><w:rPr><w:b/></w:rPr><w:t>Price</w:t><w:tab/><w:t>5 &amp; 6 &#8364;</w:t>\
         <w:br/><w:t>next</w:t><w:cr/><w:t>line</w:t><w:noBreakHyphen/><w:t>x</w:t></w:r></w:p>",
        p(FILLER)
    );
    let out = extract(&docx(&body)).unwrap();
    assert_eq!(
        out.text,
        format!("{FILLER}\nPrice\t5 & 6 €\nnext\nline-x\n")
    );
    assert_eq!(out.pages, vec![0]);
}

#[test]
fn page_breaks_start_pages_at_char_offsets() {
    let body = format!(
        "{}<w:p><w:r><w:t>Überschrift</w:t><w:br w:type=\"page\"/><w:t>Seite zwei</w:t></w:r></w:p>{}",
        p("Vertrag über Miete"),
        p("Ende")
    );
    let out = extract(&docx(&body)).unwrap();
    assert_eq!(
        out.text,
        "Vertrag über Miete\nÜberschrift\u{c}Seite zwei\nEnde\n"
    );
    let second = out.text.chars().position(|c| c == '\u{c}').unwrap() as u64 + 1;
    assert_eq!(out.pages, vec![0, second]);
    assert_eq!(out.page_of(second), 2);
}

#[test]
fn tables_are_tab_separated_rows() {
    let cell = |t: &str| format!("<w:tc><w:tcPr><w:tcW w:w=\"1\"/></w:tcPr>{}</w:tc>", p(t));
    let body = format!(
        "{}<w:tbl><w:tblPr/><w:tblGrid/>\
         <w:tr>{}{}</w:tr>\
         <w:tr>{}<w:tc><w:p><w:r><w:t>two</w:t><w:br/><w:t>lines</w:t></w:r></w:p>{}</w:tc></w:tr>\
         </w:tbl>{}",
        p(FILLER),
        cell("Party"),
        cell("Role"),
        cell("Acme"),
        p("second para"),
        p("after")
    );
    let out = extract(&docx(&body)).unwrap();
    assert_eq!(
        out.text,
        format!("{FILLER}\nParty\tRole\nAcme\ttwo lines second para\nafter\n")
    );
}

#[test]
fn deleted_text_field_codes_and_fallbacks_are_left_out() {
    let body = format!(
        "{}<w:p><w:del><w:r><w:delText>old</w:delText><w:tab/></w:r></w:del>\
         <w:ins><w:r><w:t>new</w:t></w:r></w:ins>\
         <w:r><w:fldChar w:fldCharType=\"begin\"/></w:r>\
         <w:r><w:instrText> PAGE </w:instrText></w:r>\
         <w:r><w:fldChar w:fldCharType=\"separate\"/></w:r><w:r><w:t>7</w:t></w:r>\
         <w:r><mc:AlternateContent><mc:Choice Requires=\"wps\"><w:t>box</w:t></mc:Choice>\
         <mc:Fallback><w:t>box</w:t></mc:Fallback></mc:AlternateContent></w:r></w:p>",
        p(FILLER)
    );
    let out = extract(&docx(&body)).unwrap();
    assert_eq!(out.text, format!("{FILLER}\nnew7box\n"));
}

#[test]
fn dtds_and_unknown_entities_are_refused() {
    let xxe = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\
         <w:document xmlns:w=\"{W}\"><w:body>{}<w:p><w:r><w:t>&xxe;</w:t></w:r></w:p></w:body></w:document>",
        p(FILLER)
    );
    let bytes = zip_of(&[(DOCUMENT, xxe.as_bytes())], CompressionMethod::Stored);
    let err = extract(&bytes).unwrap_err();
    assert!(err.to_string().contains("DTD"), "{err}");
    assert!(!err.to_string().contains("root:"));

    let undefined = docx(&format!(
        "{}<w:p><w:r><w:t>&xxe;</w:t></w:r></w:p>",
        p(FILLER)
    ));
    assert_eq!(code(extract(&undefined)), ExtractFailureCode::Unreadable);
}

#[test]
fn zip_limits() {
    let limits = Limits {
        max_inflated: 1000,
        ..Limits::default()
    };
    let big = docx(&p(&"x".repeat(2000)));
    assert_eq!(
        code(extract_docx(&big, &limits)),
        ExtractFailureCode::TooLarge
    );

    let limits = Limits {
        max_zip_entries: 2,
        ..Limits::default()
    };
    let many = zip_of(
        &[("a", b"1"), ("b", b"2"), ("c", b"3")],
        CompressionMethod::Stored,
    );
    assert_eq!(declared_entries(&many), Some(3));
    assert_eq!(
        code(extract_docx(&many, &limits)),
        ExtractFailureCode::TooLarge
    );
}

#[test]
fn a_forged_size_is_caught_by_the_read_cap() {
    let limits = Limits {
        max_inflated: 4096,
        ..Limits::default()
    };
    let body = p(&"x".repeat(10_000));
    let mut bytes = zip_of(
        &[(DOCUMENT, document(&body).as_bytes())],
        CompressionMethod::Deflated,
    );
    // Rewrite the declared uncompressed size (local header offset 22, central header offset
    // 24) to 100 bytes.
    let real = u32::try_from(document(&body).len()).unwrap().to_le_bytes();
    let mut patched = 0;
    for at in 0..bytes.len() - 4 {
        if bytes[at..at + 4] == real {
            bytes[at..at + 4].copy_from_slice(&100u32.to_le_bytes());
            patched += 1;
        }
    }
    assert_eq!(patched, 2);
    let outcome = code(extract_docx(&bytes, &limits));
    assert!(
        matches!(
            outcome,
            ExtractFailureCode::TooLarge | ExtractFailureCode::Unreadable
        ),
        "{outcome:?}"
    );
}

#[test]
fn output_counts_against_max_chars() {
    let limits = Limits {
        max_chars: 30,
        ..Limits::default()
    };
    assert_eq!(
        code(extract_docx(&docx(&p(FILLER)), &limits)),
        ExtractFailureCode::TooLarge
    );
}

#[test]
fn not_a_docx() {
    assert_eq!(code(extract(b"")), ExtractFailureCode::Unreadable);
    assert_eq!(
        code(extract(b"PK\x03\x04junk")),
        ExtractFailureCode::Unreadable
    );
    let no_document = zip_of(&[("a.txt", b"hello")], CompressionMethod::Stored);
    assert_eq!(code(extract(&no_document)), ExtractFailureCode::Unreadable);
    assert_eq!(code(extract(&docx(&p("  ")))), ExtractFailureCode::NoText);
    let broken = docx("<w:p><w:r><w:t>unclosed</w:r></w:p>");
    assert_eq!(code(extract(&broken)), ExtractFailureCode::Unreadable);
}

const NUMBERING_XML: &str = r#"<?xml version="1.0"?>
<w:numbering xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">
  <w:abstractNum w:abstractNumId="0">
    <w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1."/></w:lvl>
    <w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1.%2"/></w:lvl>
    <w:lvl w:ilvl="2"><w:start w:val="1"/><w:numFmt w:val="lowerLetter"/><w:lvlText w:val="(%3)"/></w:lvl>
  </w:abstractNum>
  <w:abstractNum w:abstractNumId="1">
    <w:lvl w:ilvl="0"><w:numFmt w:val="bullet"/><w:lvlText w:val="&#xF0B7;"/></w:lvl>
  </w:abstractNum>
  <w:abstractNum w:abstractNumId="2">
    <w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="upperRoman"/><w:lvlText w:val="Article %1"/></w:lvl>
  </w:abstractNum>
  <w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num>
  <w:num w:numId="2"><w:abstractNumId w:val="1"/></w:num>
  <w:num w:numId="3"><w:abstractNumId w:val="2"/>
    <w:lvlOverride w:ilvl="0"><w:startOverride w:val="4"/></w:lvlOverride></w:num>
</w:numbering>"#;

const STYLES_XML: &str = r#"<?xml version="1.0"?>
<w:styles xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">
  <w:style w:type="paragraph" w:styleId="Heading1"><w:pPr><w:numPr><w:numId w:val="1"/></w:numPr></w:pPr></w:style>
  <w:style w:type="paragraph" w:styleId="MyHeading"><w:basedOn w:val="Heading1"/></w:style>
</w:styles>"#;

fn numbered(num: u32, level: u32, text: &str) -> String {
    format!(
        "<w:p><w:pPr><w:numPr><w:ilvl w:val=\"{level}\"/><w:numId w:val=\"{num}\"/></w:numPr></w:pPr>\
         <w:r><w:t>{text}</w:t></w:r></w:p>"
    )
}

fn styled(style: &str, text: &str) -> String {
    format!("<w:p><w:pPr><w:pStyle w:val=\"{style}\"/></w:pPr><w:r><w:t>{text}</w:t></w:r></w:p>")
}

#[test]
fn list_numbers_are_written_before_numbered_paragraphs() {
    let body = [
        styled("Heading1", "Definitions"),
        numbered(1, 1, "Agreement means this agreement."),
        numbered(1, 2, "first"),
        numbered(1, 2, "second"),
        numbered(1, 1, "Party means a party."),
        numbered(2, 0, "a bullet"),
        styled("MyHeading", "Term"),
        numbered(1, 1, "Ten years."),
        numbered(3, 0, "Miscellaneous"),
        numbered(3, 0, "Notices"),
        numbered(0, 0, "Not numbered"),
    ]
    .concat();
    let bytes = zip_of(
        &[
            (DOCUMENT, document(&body).as_bytes()),
            (NUMBERING, NUMBERING_XML.as_bytes()),
            (STYLES, STYLES_XML.as_bytes()),
        ],
        CompressionMethod::Deflated,
    );
    let out = extract(&bytes).unwrap();
    assert_eq!(
        out.text,
        "1. Definitions\n\
         1.1 Agreement means this agreement.\n\
         (a) first\n\
         (b) second\n\
         1.2 Party means a party.\n\
         a bullet\n\
         2. Term\n\
         2.1 Ten years.\n\
         Article IV Miscellaneous\n\
         Article V Notices\n\
         Not numbered\n"
    );
}

#[test]
fn bad_numbering_only_loses_the_numbers() {
    let body = format!("{}{}", numbered(1, 0, FILLER), p("plain"));
    let bytes = zip_of(
        &[
            (DOCUMENT, document(&body).as_bytes()),
            (NUMBERING, b"<w:numbering><unclosed>"),
        ],
        CompressionMethod::Stored,
    );
    assert_eq!(extract(&bytes).unwrap().text, format!("{FILLER}\nplain\n"));
}
