//! The store conformance suite: the same expectations of the `Store` trait on SQLite and PostgreSQL.

use chrono::Utc;
use taizhang_domain::ledger::{CaseEvent, GENESIS};
use taizhang_domain::{DomainError, ErrorCode};
use taizhang_store::{AppendRequest, Built, CaseRow, NewAudit, NewUnit, Session, Slot, StoreError};

use crate::both_backends;
use crate::helpers::TestApp;

fn row(slot: &Slot, title: &str) -> CaseRow {
    CaseRow {
        id: slot.case_id,
        code: format!("T{:06}", slot.case_id),
        kind: "petition".into(),
        state: "registered".into(),
        version: slot.case_seq,
        region: None,
        registered_unit: 1,
        registered_unit_path: "/1/".into(),
        handling_unit: None,
        handling_unit_path: None,
        cohandling: vec![],
        accused_unit_path: None,
        accused_users: vec![],
        matter_type: None,
        category: None,
        channel: None,
        title: title.into(),
        query_secret_hash: None,
        client_request_id: None,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        next_due_at: None,
        next_warn_at: None,
        state_json: "{}".into(),
        parent_id: None,
        next_timer_at: None,
        site_code: None,
        state_since: Utc::now(),
    }
}

fn request(case_id: Option<i64>, expected: Option<i64>, rid: Option<&str>, fail: bool) -> AppendRequest {
    AppendRequest {
        case_id,
        expected_version: expected,
        client_request_id: rid.map(str::to_string),
        doc_series: vec!["test/receipt/2026".into()],
        build: Box::new(move |slot: Slot| {
            if fail {
                return Err(DomainError::new(ErrorCode::InvalidInput, "builder refused"));
            }
            let mut event = CaseEvent {
                seq: slot.seq,
                case_id: slot.case_id,
                case_seq: slot.case_seq,
                at: taizhang_domain::ledger::to_micros(Utc::now()),
                actor_id: None,
                actor_unit: None,
                actor_role: "resident".into(),
                action: "register".into(),
                from_state: None,
                to_state: "registered".into(),
                payload: format!("{{\"n\":{}}}", slot.doc_numbers[0]),
                prev_hash: slot.prev_hash.clone(),
                hash: String::new(),
            };
            event.hash = event.compute_hash();
            let mut case = row(&slot, "直接写入");
            case.client_request_id = None;
            Ok(Built { event, case, parties: vec![], attachments: vec![] })
        }),
    }
}

fn code(e: StoreError) -> ErrorCode {
    e.into_domain().code
}

async fn store_keeps_its_contract(app: TestApp) {
    let store = app.svc.store.clone();

    // Units: paths follow the tree; codes are unique.
    let units = store.units().await.unwrap();
    let city = units.iter().find(|u| u.parent_id.is_none()).unwrap();
    let child = units.iter().find(|u| u.parent_id == Some(city.id)).unwrap();
    assert_eq!(city.path, format!("/{}/", city.id));
    assert_eq!(child.path, format!("/{}/{}/", city.id, child.id));
    let e = store
        .create_unit(NewUnit { parent_id: None, code: city.code.clone(), name: "重复".into(), level: "city".into() })
        .await
        .unwrap_err();
    assert_eq!(code(e), ErrorCode::InvalidInput);
    let e = store
        .create_unit(NewUnit {
            parent_id: Some(99_999),
            code: "x-1".into(),
            name: "孤儿".into(),
            level: "department".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(code(e), ErrorCode::NotFound);

    // Sessions: stored by hash, touched, deleted.
    let now = taizhang_domain::ledger::to_micros(Utc::now());
    let s = Session {
        token_hash: "h1".into(),
        user_id: app.users["clerk"],
        kind: "session".into(),
        name: "t".into(),
        csrf_token: "c".into(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + chrono::Duration::hours(1),
    };
    store.insert_session(s).await.unwrap();
    store.touch_session("h1", now + chrono::Duration::minutes(5)).await.unwrap();
    assert_eq!(store.session("h1").await.unwrap().unwrap().last_seen_at, now + chrono::Duration::minutes(5));
    store.delete_session("h1").await.unwrap();
    assert!(store.session("h1").await.unwrap().is_none());

    // Append: ids, seqs and document numbers allocated in order; the chain head moves with them.
    let head0 = store.chain_head("events").await.unwrap();
    assert_eq!(head0, (0, GENESIS.to_string()));
    let built = store.append(vec![request(None, None, Some("r1"), false)]).await.unwrap();
    assert_eq!((built[0].event.seq, built[0].case.id), (1, 1));
    assert_eq!(store.chain_head("events").await.unwrap(), (1, built[0].event.hash.clone()));
    let built =
        store.append(vec![request(None, None, None, false), request(Some(1), Some(1), None, false)]).await.unwrap();
    assert_eq!(
        built.iter().map(|b| (b.event.seq, b.event.case_id, b.event.case_seq)).collect::<Vec<_>>(),
        vec![(2, 2, 1), (3, 1, 2)]
    );
    assert_eq!(built[1].event.payload, "{\"n\":3}", "document numbers count up per series");

    // Refusals write nothing: a stale version, a resubmitted request id, a failing builder, a missing case.
    let before = store.chain_head("events").await.unwrap();
    let e = store.append(vec![request(Some(1), Some(1), None, false)]).await.unwrap_err();
    assert_eq!(code(e), ErrorCode::StaleVersion);
    let e = store.append(vec![request(None, None, Some("r1"), false)]).await.unwrap_err();
    assert_eq!(code(e), ErrorCode::DuplicateSubmit);
    let e = store.append(vec![request(None, None, None, false), request(None, None, None, true)]).await.unwrap_err();
    assert_eq!(code(e), ErrorCode::InvalidInput);
    let e = store.append(vec![request(Some(404), None, None, false)]).await.unwrap_err();
    assert_eq!(code(e), ErrorCode::CaseNotFound);
    assert_eq!(store.chain_head("events").await.unwrap(), before, "nothing half-written");
    assert_eq!(store.events_page(0, 100).await.unwrap().len(), 3);
    assert_eq!(store.case_ids_page(0, 100).await.unwrap(), vec![1, 2]);
    assert_eq!(store.case_events(1).await.unwrap().iter().map(|e| e.case_seq).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(store.case_by_code("T000002").await.unwrap().unwrap().id, 2);

    // The deadline cache is written only for the version it was computed from: case 1 is at version 2, so a
    // sweep that read it at version 1 writes nothing.
    let due = Utc::now() + chrono::Duration::days(3);
    assert!(!store.set_next_deadline(1, 1, Some(due), None, None).await.unwrap(), "computed from a state left");
    assert_eq!(store.case(1).await.unwrap().unwrap().next_due_at, None);
    assert!(store.set_next_deadline(1, 2, Some(due), None, None).await.unwrap());
    let written = store.case(1).await.unwrap().unwrap().next_due_at.unwrap();
    assert_eq!(written.timestamp_micros(), due.timestamp_micros());
    assert!(!store.set_next_deadline(404, 1, Some(due), None, None).await.unwrap(), "no such case");

    // Audit: its own chain.
    let a0 = store.chain_head("audit").await.unwrap();
    let rec = store
        .append_audit(NewAudit {
            at: Utc::now(),
            user_id: None,
            username: None,
            role: None,
            unit_id: None,
            source: Some("127.0.0.1".into()),
            event: "test".into(),
            object: None,
            result: "ok".into(),
            detail: "一条审计".into(),
        })
        .await
        .unwrap();
    assert_eq!((rec.seq, rec.prev_hash.clone()), (a0.0 + 1, a0.1));
    assert_eq!(rec.hash, rec.compute_hash());
    let page = store.audit_page(a0.0, 10).await.unwrap();
    assert_eq!(page, vec![rec]);
}
both_backends!(store_contract, store_keeps_its_contract);
