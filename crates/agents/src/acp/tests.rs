use super::*;

fn obj(line: &str) -> Map<String, Value> {
    serde_json::from_str::<Value>(line)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

fn sent(client: &mut Client) -> Vec<Value> {
    client
        .take_replies()
        .iter()
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

fn opened(resume: Option<&str>) -> (Client, Value) {
    let mut client = Client::default();
    let opening = Opening {
        prompt: "fix it".into(),
        resume: resume.map(str::to_owned),
    };
    let first = client
        .open(&opening.line(), std::path::Path::new("/work/x"))
        .expect("an ACP opening");
    (client, serde_json::from_slice(&first).unwrap())
}

#[test]
fn each_step_of_the_opening_goes_when_the_agent_answered_the_last() {
    let (mut client, first) = opened(None);
    assert_eq!(first["method"], "initialize");
    assert_eq!(first["params"]["protocolVersion"], 1);
    assert!(
        sent(&mut client).is_empty(),
        "nothing more before its answer"
    );
    client.message(&obj(
        r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":1,"agentCapabilities":{}}}"#,
    ));
    let new = sent(&mut client);
    assert_eq!(new[0]["method"], "session/new");
    assert_eq!(new[0]["params"]["cwd"], "/work/x");
    let init = client
        .message(&obj(
            r#"{"jsonrpc":"2.0","id":2,"result":{"sessionId":"s-9"}}"#,
        ))
        .unwrap();
    assert_eq!(
        (init["kind"].as_str(), init["session"].as_str()),
        (Some("init"), Some("s-9"))
    );
    let prompt = sent(&mut client);
    assert_eq!(prompt[0]["method"], "session/prompt");
    assert_eq!(prompt[0]["params"]["sessionId"], "s-9");
    assert_eq!(prompt[0]["params"]["prompt"][0]["text"], "fix it");
    let text = client
        .message(&obj(r#"{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"s-9","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"hel"}}}}"#))
        .unwrap();
    assert_eq!(
        (text["text"].as_str(), text["delta"].as_bool()),
        (Some("hel"), Some(true))
    );
    let result = client
        .message(&obj(r#"{"jsonrpc":"2.0","id":3,"result":{"stopReason":"end_turn","usage":{"inputTokens":12,"outputTokens":5}}}"#))
        .unwrap();
    assert_eq!(result["kind"], "result");
    assert_eq!(result["ok"], true);
    assert_eq!(
        (
            result["input_tokens"].as_u64(),
            result["output_tokens"].as_u64()
        ),
        (Some(12), Some(5))
    );
}

#[test]
fn a_session_to_resume_is_loaded_where_the_agent_can_and_its_replay_is_not_shown() {
    let (mut client, _) = opened(Some("s-1"));
    client.message(&obj(
        r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":1,"agentCapabilities":{"loadSession":true}}}"#,
    ));
    let load = sent(&mut client);
    assert_eq!(load[0]["method"], "session/load");
    assert_eq!(load[0]["params"]["sessionId"], "s-1");
    // The history it replays while loading is the earlier attempt's.
    assert_eq!(
        client.message(&obj(r#"{"jsonrpc":"2.0","method":"session/update","params":{"update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"old"}}}}"#)),
        None
    );
    let init = client
        .message(&obj(r#"{"jsonrpc":"2.0","id":2,"result":null}"#))
        .unwrap();
    assert_eq!(init["session"], "s-1");
    assert_eq!(sent(&mut client)[0]["params"]["sessionId"], "s-1");

    // One that cannot load: a new session, said so.
    let (mut client, _) = opened(Some("s-1"));
    let note = client
        .message(&obj(
            r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":1}}"#,
        ))
        .unwrap();
    assert!(
        note["message"].as_str().unwrap().contains("cannot load"),
        "{note}"
    );
    assert_eq!(sent(&mut client)[0]["method"], "session/new");

    // One that refuses the load: the same.
    let (mut client, _) = opened(Some("s-1"));
    client.message(&obj(
        r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":1,"agentCapabilities":{"loadSession":true}}}"#,
    ));
    sent(&mut client);
    let note = client
        .message(&obj(
            r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32002,"message":"no such session"}}"#,
        ))
        .unwrap();
    assert!(
        note["message"]
            .as_str()
            .unwrap()
            .contains("no such session")
    );
    let again = sent(&mut client);
    assert_eq!(
        (again[0]["method"].as_str(), again[0]["id"].as_u64()),
        (Some("session/new"), Some(4))
    );
    let init = client
        .message(&obj(
            r#"{"jsonrpc":"2.0","id":4,"result":{"sessionId":"s-2"}}"#,
        ))
        .unwrap();
    assert_eq!(init["session"], "s-2");
}

#[test]
fn version_2_ends_the_turn_with_its_idle_state_not_the_prompts_answer() {
    let (mut client, _) = opened(None);
    client.message(&obj(
        r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":2}}"#,
    ));
    sent(&mut client);
    client.message(&obj(
        r#"{"jsonrpc":"2.0","id":2,"result":{"sessionId":"s"}}"#,
    ));
    sent(&mut client);
    // v2: the prompt's answer only acknowledges it.
    assert_eq!(
        client.message(&obj(r#"{"jsonrpc":"2.0","id":3,"result":{}}"#)),
        None
    );
    // Whole-message upserts: blocks, not chunks.
    let text = client
        .message(&obj(r#"{"jsonrpc":"2.0","method":"session/update","params":{"update":{"sessionUpdate":"agent_message_chunk","messageId":"m1","content":[{"type":"text","text":"all "},{"type":"text","text":"done"}]}}}"#))
        .unwrap();
    assert_eq!(
        (text["text"].as_str(), text["delta"].as_bool()),
        (Some("all done"), Some(false))
    );
    // A tool call upserted finished is its result too.
    let call = client
        .message(&obj(r#"{"jsonrpc":"2.0","method":"session/update","params":{"update":{"sessionUpdate":"tool_call","toolCallId":"t1","title":"cargo test","kind":"execute","status":"completed","rawInput":{"command":"cargo test"}}}}"#))
        .unwrap();
    assert_eq!(call["tool"], "execute");
    assert_eq!(call["input"]["command"], "cargo test");
    assert_eq!(call["also"][0]["kind"], "tool_result");
    assert_eq!(
        client.message(&obj(r#"{"jsonrpc":"2.0","method":"session/update","params":{"update":{"sessionUpdate":"state_update","state":"running"}}}"#)),
        None
    );
    let result = client
        .message(&obj(r#"{"jsonrpc":"2.0","method":"session/update","params":{"update":{"sessionUpdate":"state_update","state":"idle","stopReason":"refusal"}}}"#))
        .unwrap();
    assert_eq!(
        (result["kind"].as_str(), result["ok"].as_bool()),
        (Some("result"), Some(false))
    );
    assert!(result["text"].as_str().unwrap().contains("refusal"));
}

#[test]
fn a_version_sc_does_not_speak_fails_the_run_and_says_which() {
    let (mut client, _) = opened(None);
    let result = client
        .message(&obj(
            r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":3}}"#,
        ))
        .unwrap();
    assert_eq!(result["ok"], false);
    assert!(result["text"].as_str().unwrap().contains("version 3"));
    assert!(sent(&mut client).is_empty());
    // An error answer to a step fails the run with the agent's words.
    let (mut client, _) = opened(None);
    let result = client
        .message(&obj(r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"Authentication required"}}"#))
        .unwrap();
    assert_eq!(result["ok"], false);
    assert!(
        result["text"]
            .as_str()
            .unwrap()
            .contains("Authentication required")
    );
}

#[test]
fn a_request_sc_does_not_serve_is_answered_with_an_error() {
    let (mut client, _) = opened(None);
    assert_eq!(
        client.message(&obj(r#"{"jsonrpc":"2.0","id":7,"method":"fs/read_text_file","params":{"path":"/etc/passwd"}}"#)),
        None
    );
    let reply = sent(&mut client);
    assert_eq!(reply[0]["id"], 7);
    assert_eq!(reply[0]["error"]["code"], -32601);
    // Notifications (no id) are not requests.
    client.message(&obj(
        r#"{"jsonrpc":"2.0","method":"qwen/notify/x","params":{}}"#,
    ));
    assert!(sent(&mut client).is_empty());
}

#[test]
fn a_permission_is_answered_with_the_option_of_its_kind_and_cancelled_with_the_turn() {
    let (mut client, _) = opened(None);
    client.message(&obj(
        r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":1}}"#,
    ));
    client.message(&obj(
        r#"{"jsonrpc":"2.0","id":2,"result":{"sessionId":"s"}}"#,
    ));
    sent(&mut client);
    let request = r#"{"jsonrpc":"2.0","id":0,"method":"session/request_permission","params":{"sessionId":"s","toolCall":{"toolCallId":"c","title":"touch F","kind":"execute"},"options":[{"optionId":"proceed_always","kind":"allow_always"},{"optionId":"proceed_once","kind":"allow_once"},{"optionId":"cancel","kind":"reject_once"}]}}"#;
    let ask = client.message(&obj(request)).unwrap();
    assert_eq!(
        (ask["kind"].as_str(), ask["tool"].as_str()),
        (Some("ask"), Some("execute"))
    );
    let agent_ask = sc_capture::agent::AgentAsk {
        id: "0".into(),
        tool: "execute".into(),
        input: ask["input"].clone(),
        reason: None,
    };
    let allow: Value = serde_json::from_slice(&client.answer(&agent_ask, true)).unwrap();
    assert_eq!(allow["id"], 0);
    assert_eq!(allow["result"]["outcome"]["optionId"], "proceed_once");
    let deny: Value = serde_json::from_slice(&client.answer(&agent_ask, false)).unwrap();
    assert_eq!(deny["result"]["outcome"]["optionId"], "cancel");
    let bare = sc_capture::agent::AgentAsk {
        input: json!({}),
        ..agent_ask
    };
    let none: Value = serde_json::from_slice(&client.answer(&bare, true)).unwrap();
    assert_eq!(none["result"]["outcome"]["outcome"], "cancelled");
    // A one-off allow is never turned into `allow_always`.
    let always_only = sc_capture::agent::AgentAsk {
        input: json!({"options": [{"optionId": "always", "kind": "allow_always"},
            {"optionId": "no", "kind": "reject_once"}]}),
        ..bare
    };
    let allowed: Value = serde_json::from_slice(&client.answer(&always_only, true)).unwrap();
    assert_ne!(allowed["result"]["outcome"]["optionId"], "always");

    // Asked again and not answered: the cancel answers it `cancelled`.
    client.message(&obj(&request.replace("\"id\":0", "\"id\":5")));
    let lines: Vec<Value> = String::from_utf8(client.cancel())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["method"], "session/cancel");
    assert_eq!(lines[0]["params"]["sessionId"], "s");
    assert_eq!(lines[1]["id"], 5);
    assert_eq!(lines[1]["result"]["outcome"]["outcome"], "cancelled");
    assert_eq!(lines.len(), 2, "what was answered is not answered again");
}
