use super::*;
use crate::cli::Slot;

fn args(slot: Slot, node: Option<u64>) -> SlotArgs {
    SlotArgs { slot, node }
}

#[test]
fn node_defaults_to_the_answering_one() {
    let r = slot_ref(&args(Slot::Local, None)).unwrap();
    assert_eq!((r.slot.as_str(), r.node_id), ("local", 0));
    let r = slot_ref(&args(Slot::Remote, Some(3))).unwrap();
    assert_eq!((r.slot.as_str(), r.node_id), ("remote", 3));
}

#[test]
fn node_for_a_virtual_slot_is_refused() {
    let err = slot_ref(&args(Slot::LocalVirtual, Some(2))).unwrap_err();
    assert!(err.to_string().contains("--node applies"), "{err}");
    slot_ref(&args(Slot::RemoteVirtual, Some(0))).unwrap();
}

#[test]
fn slot_state_names_what_the_slot_holds() {
    let mut view = SlotView::default();
    assert_eq!(slot_state(&view), "empty");
    view.active = Some(CertificateInfo::default());
    view.csr = Some(CsrInfo::default());
    assert_eq!(slot_state(&view), "active, CSR");
}

#[test]
fn labels_name_the_node_only_for_per_node_slots() {
    let view = SlotView {
        slot: "local".into(),
        node_id: 1,
        ..Default::default()
    };
    assert_eq!(slot_label(&view), "local of node 1");
    let view = SlotView {
        slot: "remote-virtual".into(),
        ..Default::default()
    };
    assert_eq!(slot_label(&view), "remote-virtual");
}

#[test]
fn days_left_reads_as_words() {
    assert_eq!(days_left(-3), "expired");
    assert_eq!(days_left(1), "1 day left");
    assert_eq!(days_left(90), "90 days left");
}
