//! Helpers shared by the domain's unit tests.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::access::ALL_ROLES;
use crate::calendar::HolidayCalendar;
use crate::workflow::{Actor, CaseState, EventFacts, WorkflowDef, apply_event, check_action};

/// Plays `steps` (action, fields, time) through the engine's checks, as the service would, by an actor who
/// holds every role and stands in every relation to the case.
pub fn play(def: &WorkflowDef, steps: &[(&str, Value, DateTime<Utc>)]) -> CaseState {
    let actor = Actor {
        roles: &ALL_ROLES,
        in_handling_unit: true,
        in_cohandling_unit: true,
        above_handling_unit: true,
        above_recorded: vec![],
    };
    let cal = HolidayCalendar::embedded();
    let mut state: Option<CaseState> = None;
    for (seq, (action, fields, when)) in steps.iter().enumerate() {
        let fields: Map<String, Value> = fields.as_object().cloned().unwrap_or_default();
        let (a, payload) = check_action(def, state.as_ref(), action, &actor, &fields, *when, cal, None)
            .unwrap_or_else(|e| panic!("{action} at {when}: {}", e.message));
        let facts = EventFacts {
            seq: seq as i64 + 1,
            action: a.id.clone(),
            at: *when,
            actor_id: Some(1),
            actor_unit: Some(1),
            payload,
            documents: vec![],
        };
        state = Some(apply_event(def, state, &facts).unwrap());
    }
    state.unwrap()
}
