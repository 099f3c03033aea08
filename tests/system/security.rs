//! SECURITY.md is checked by machine: every test it names exists (here), and
//! infra/local/test.sh reports for each promise whether its tests ran and passed
//! (`security-report`). The reader itself is held to each citation style.
use std::path::Path;

use fieldvault_system_tests::security::{
    classify, missing, page_problems, promises, results, verdict, Citation, Verdict,
};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_test_security_md_names_exists() {
    let page = std::fs::read_to_string(root().join("SECURITY.md")).expect("SECURITY.md");
    let problems = page_problems(root(), &page);
    assert!(
        problems.is_empty(),
        "SECURITY.md cites what does not exist:\n{}",
        problems.join("\n")
    );
    let rows = promises(&page);
    assert!(rows.len() > 40, "only {} promises read", rows.len());
    assert!(
        rows.iter()
            .filter(|p| p.citations.iter().any(Citation::is_test))
            .count()
            > 40
    );
}

#[test]
fn the_security_page_reader_understands_every_citation_style() {
    let unit = |krate: &str, path: &str| Citation::Unit {
        krate: krate.into(),
        path: path.into(),
    };
    let system = |file: &str, name: &str| Citation::System {
        file: file.into(),
        name: name.into(),
    };
    assert_eq!(
        classify("fieldvault-core keys::tests::every_key_starts_with_its_tenant"),
        Ok(Some(unit(
            "fieldvault-core",
            "keys::tests::every_key_starts_with_its_tenant"
        )))
    );
    assert_eq!(
        classify("fieldvault-core iam::*"),
        Ok(Some(unit("fieldvault-core", "iam::*")))
    );
    assert_eq!(
        classify("fv-list-users tests::only_owners_and_admins_list_users_and_denials_are_recorded"),
        Ok(Some(unit(
            "fv-list-users",
            "tests::only_owners_and_admins_list_users_and_denials_are_recorded"
        )))
    );
    assert_eq!(classify("portal::*"), Ok(Some(system("portal", "*"))));
    assert_eq!(
        classify("matrix::every_route_for_every_role_of_two_tenants"),
        Ok(Some(system(
            "matrix",
            "every_route_for_every_role_of_two_tenants"
        )))
    );
    assert_eq!(
        classify("Reply::assert_security_headers"),
        Ok(Some(Citation::Helper {
            ty: "Reply".into(),
            method: "assert_security_headers".into()
        }))
    );
    assert_eq!(
        classify("shared/aws/src/session.rs"),
        Ok(Some(Citation::File("shared/aws/src/session.rs".into())))
    );
    assert_eq!(
        classify("template.yaml"),
        Ok(Some(Citation::File("template.yaml".into())))
    );
    // A unit test without its crate is refused, not skipped; code text is not a citation.
    assert_eq!(
        classify("authz::tests::role_matrix_for_tenant_actions"),
        Err("authz::tests::role_matrix_for_tenant_actions".into())
    );
    for text in [
        "UserPoolClient",
        "X-Amz-Expires",
        "alg: none",
        "T#<tenant>#KIND",
        "<file>::<test>",
    ] {
        assert_eq!(classify(text), Ok(None), "{text}");
    }

    // Existence: real names pass, a made-up one in each style is caught with where it looked.
    for real in [
        unit(
            "fieldvault-core",
            "keys::tests::every_key_starts_with_its_tenant",
        ),
        unit(
            "fieldvault-core",
            "authz::portal_tests::a_link_principal_reaches_only_the_portal",
        ),
        unit("fieldvault-core", "iam::*"),
        unit(
            "fv-list-users",
            "tests::only_owners_and_admins_list_users_and_denials_are_recorded",
        ),
        system(
            "security",
            "the_security_page_reader_understands_every_citation_style",
        ),
        system("portal", "*"),
        Citation::Helper {
            ty: "Reply".into(),
            method: "assert_security_headers".into(),
        },
    ] {
        assert_eq!(missing(root(), &real), None, "{real}");
    }
    for (made_up, why) in [
        (
            unit("fieldvault-core", "keys::tests::no_such_test"),
            "no test `no_such_test` in shared/core/src/keys.rs",
        ),
        (
            unit("fieldvault-core", "nosuch::tests::x"),
            "no module `nosuch` of fieldvault-core",
        ),
        (
            unit("fv-nothing", "tests::x"),
            "no workspace crate named fv-nothing",
        ),
        (
            system("matrix", "no_such_test"),
            "no test `no_such_test` in tests/system/matrix.rs",
        ),
        (system("nosuch", "*"), "no tests/system/nosuch.rs"),
        (
            Citation::Helper {
                ty: "Reply".into(),
                method: "no_such_helper".into(),
            },
            "no helper",
        ),
        (Citation::File("shared/nosuch.rs".into()), "no file"),
    ] {
        let got = missing(root(), &made_up).unwrap_or_default();
        assert!(got.starts_with(why), "{made_up}: {got}");
    }

    // A page: rows with a Proof column, the section and line of each, a "tested" row that
    // cites no test, and a malformed citation.
    let page = "# S\n\n## Area\n\n| Promise | Status | Proof |\n|---|---|---|\n\
        | Keys are tenant-prefixed | Enforced and tested | `fieldvault-core keys::tests::every_key_starts_with_its_tenant`, `portal::*` |\n\
        | Claimed | Enforced and tested | `template.yaml` |\n\
        | Loose | Enforced and tested | `keys::tests::every_key_starts_with_its_tenant` |\n\
        | Elsewhere | Enforced only in AWS | `template.yaml` |\n\n| Promise | Status |\n|---|---|\n| Not a proof table | Not yet |\n";
    let rows = promises(page);
    assert_eq!(rows.len(), 4);
    assert_eq!((rows[0].section.as_str(), rows[0].line), ("Area", 7));
    assert_eq!(rows[0].citations.len(), 2);
    let problems = page_problems(root(), page);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].contains("line 8") && problems[0].contains("no test is cited"));
    assert!(problems[1].contains("line 9") && problems[1].contains("no known style"));
    assert!(problems[2].contains("line 9") && problems[2].contains("no test is cited"));

    // A run: which binary each result line belongs to; a failure anywhere is a failure.
    let log = "     Running unittests src/lib.rs (target/debug/deps/fieldvault_core-0a1b2c3d)\n\
        running 2 tests\n\
        test keys::tests::every_key_starts_with_its_tenant ... ok\n\
        test iam::tests::a ... ok\n\
        test result: ok. 2 passed; 0 failed\n\
        Running tests/system/main.rs (target/debug/deps/system-99aa)\n\
        test portal::one ... ok\n\
        test portal::two ... FAILED\n\
        test matrix::slow ... ignored\n\
        Doc-tests fieldvault_core\n\
        test shared/core/src/lib.rs - x (line 3) ... ok\n";
    let ran = results(log);
    assert_eq!(
        verdict(
            &ran,
            &unit(
                "fieldvault-core",
                "keys::tests::every_key_starts_with_its_tenant"
            )
        ),
        Verdict::Passed(1)
    );
    assert_eq!(
        verdict(&ran, &unit("fieldvault-core", "iam::*")),
        Verdict::Passed(1)
    );
    assert_eq!(
        verdict(&ran, &system("portal", "*")),
        Verdict::Failed(vec!["portal::two".into()])
    );
    assert_eq!(verdict(&ran, &system("portal", "one")), Verdict::Passed(1));
    assert_eq!(verdict(&ran, &system("matrix", "slow")), Verdict::Ignored);
    assert_eq!(
        verdict(&ran, &system("keys", "every_key_starts_with_its_tenant")),
        Verdict::NotRun
    );
    assert_eq!(
        verdict(&ran, &unit("fieldvault-aws", "iam::*")),
        Verdict::NotRun
    );
}
