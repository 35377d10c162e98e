//! Demo data: a fictional city (临江市) with two districts, townships, communities and departments, an account
//! for every role with a random printed password, and petitions in every state spread over the past year.
//!
//! Every case is made through the service, action by action, with the clock set to the moment each step
//! happened — so the history, the clocks and `verify` are exactly what real use would produce.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{Datelike, Duration, Utc};
use serde_json::{Map, Value, json};
use taizhang_domain::access::Role;
use taizhang_domain::deadline::china_tz;
use taizhang_domain::{DomainError, DomainResult, ErrorCode};
use taizhang_service::accountability::NewAccountability;
use taizhang_service::campaigns::NewCampaign;
use taizhang_service::cases::{Actor, IntakeRequest, PartyInput};
use taizhang_service::circulars::NewCircular;
use taizhang_service::letters::{LetterItem, NewLetter};
use taizhang_service::responsibility::NewResponsibility;
use taizhang_service::{Clock, ManualClock, Principal};

use crate::{Location, build};

/// A small deterministic generator, so a demo database looks the same every time.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

/// (category, title, content) — resident matters of the kinds a county office receives.
const MATTERS: &[(&str, &str, &str)] = &[
    (
        "城乡建设",
        "小区电梯频繁故障无人维修",
        "我们小区 3 栋电梯半年内停运十余次，物业称维修资金申请不下来，老人上下楼非常困难，请求督促物业和住建部门尽快维修。",
    ),
    (
        "城乡建设",
        "老旧小区改造施工扰民",
        "改造工程晚上十点后仍在切割钢管，噪音很大，孩子无法休息，希望规定施工时间并加强监管。",
    ),
    (
        "城乡建设",
        "购房后迟迟办不下不动产权证",
        "2021 年购买的商品房至今未办理不动产权证，开发商说是土地出让金未缴清，请求有关部门协调办理。",
    ),
    (
        "劳动和社会保障",
        "拖欠农民工工资",
        "我们 12 名工人在某工地干了 4 个月，包工头拖欠工资共计 38 万元，多次讨要无果，请求劳动监察部门介入。",
    ),
    ("劳动和社会保障", "企业未缴纳社会保险", "公司入职两年一直未给我缴纳养老保险和医疗保险，请求责令补缴。"),
    ("劳动和社会保障", "退休待遇核定有误", "本人工龄计算少了 3 年，导致养老金偏低，已提交档案材料，请求重新核定。"),
    (
        "教育文体",
        "学区划分调整不合理",
        "今年学区调整后，孩子需要到 3 公里外的学校上学，而家门口的学校不招收，请求公开划片依据。",
    ),
    ("教育文体", "校外培训机构停课不退费", "某培训机构突然停课，预付的 1.2 万元学费不予退还，涉及家长一百多名。"),
    ("环境保护", "餐馆油烟直排扰民", "楼下餐馆油烟未经净化直接排放，窗户无法打开，请求环保部门检查处理。"),
    ("环境保护", "河道有污水排放", "村东小河近期发黑发臭，疑似上游养殖场偷排污水，请求调查。"),
    (
        "交通运输",
        "公交线路调整后出行不便",
        "12 路公交取消了我们小区站点，老人看病需要步行 1.5 公里换乘，请求恢复站点。",
    ),
    ("交通运输", "路口红绿灯时间过短", "学校门口路口行人绿灯只有 15 秒，学生过马路很危险，建议延长。"),
    ("卫生计生", "社区卫生服务中心缺少常用药", "慢性病常用药在社区卫生服务中心经常断货，只能去大医院排队开药。"),
    ("卫生计生", "医疗费用报销迟迟未到账", "住院费用异地报销材料已交三个月，至今未到账，请求查明原因。"),
    ("商贸旅游", "网购商品质量问题商家拒绝退货", "购买的电热水器使用一周漏电，商家拒绝退货，市场监管投诉后无回音。"),
    ("商贸旅游", "景区门票价格不透明", "景区门口收取 “环保费” 20 元未明示，建议规范收费。"),
    ("农村农业", "土地承包经营权纠纷", "村里重新调整承包地时少分了我家 1.5 亩，多次找村委会未解决。"),
    ("农村农业", "惠农补贴未发放到户", "去年的耕地地力保护补贴至今未收到，请求核查。"),
    ("民政", "低保申请被拒有异议", "家中两人重病无劳动能力，低保申请被驳回，理由是有一辆旧车，请求复核。"),
    ("政法", "邻里宅基地界址纠纷", "邻居建房占用我家宅基地约 20 厘米，村调解两次未果，请求处理。"),
];

const NAMES: &[&str] = &[
    "王建国",
    "李秀英",
    "张伟",
    "刘芳",
    "陈志强",
    "杨丽",
    "赵敏",
    "黄海",
    "周杰",
    "吴桂兰",
    "徐明",
    "孙丽娟",
    "马超",
    "朱红",
    "胡军",
    "郭静",
];
const STREETS: &[&str] = &["幸福路", "人民路", "滨江大道", "建设街", "青山路", "解放路"];

const UNITS: &[(&str, Option<&str>, &str, &str)] = &[
    // (code, parent code, name, level)
    ("349900", None, "临江市", "city"),
    ("349900-XF", Some("349900"), "临江市信访局", "department"),
    ("349900-ZJ", Some("349900"), "临江市住房和城乡建设局", "department"),
    ("349900-RS", Some("349900"), "临江市人力资源和社会保障局", "department"),
    ("349900-HB", Some("349900"), "临江市生态环境局", "department"),
    ("349900-JY", Some("349900"), "临江市教育局", "department"),
    ("349901", Some("349900"), "临江市东城区", "county"),
    ("349901-XF", Some("349901"), "东城区信访局", "department"),
    ("349901-ZJ", Some("349901"), "东城区住房和城乡建设局", "department"),
    ("349901001", Some("349901"), "东城区城关街道", "township"),
    ("349901001001", Some("349901001"), "城关街道幸福社区", "village"),
    ("349901001002", Some("349901001"), "城关街道光明社区", "village"),
    ("349901002", Some("349901"), "东城区河口镇", "township"),
    ("349901002001", Some("349901002"), "河口镇河口村", "village"),
    ("349901-CG", Some("349901"), "东城区城市管理局", "department"),
    ("349902", Some("349900"), "临江市西湖区", "county"),
    ("349902-XF", Some("349902"), "西湖区信访局", "department"),
    ("349902-ZJ", Some("349902"), "西湖区住房和城乡建设局", "department"),
    ("349902001", Some("349902"), "西湖区湖滨街道", "township"),
    ("349902001001", Some("349902001"), "湖滨街道滨江社区", "village"),
    ("349902002", Some("349902"), "西湖区青山乡", "township"),
    ("349902002001", Some("349902002"), "青山乡青山村", "village"),
];

/// (username, display name, unit code, roles)
const ACCOUNTS: &[(&str, &str, &str, &[Role])] = &[
    ("clerk", "刘晓燕（接待登记）", "349900-XF", &[Role::ReceptionClerk]),
    ("office", "陈立新（市信访局）", "349900-XF", &[Role::PetitionOffice, Role::ReceptionClerk]),
    ("dc_office", "王海涛（东城区信访局）", "349901-XF", &[Role::PetitionOffice, Role::ReceptionClerk]),
    ("zj_staff", "赵明（市住建局承办）", "349900-ZJ", &[Role::HandlingStaff]),
    ("zj_leader", "孙建华（市住建局分管领导）", "349900-ZJ", &[Role::Leader]),
    ("rs_staff", "周婷（市人社局承办）", "349900-RS", &[Role::HandlingStaff]),
    ("rs_leader", "钱伟（市人社局分管领导）", "349900-RS", &[Role::Leader]),
    ("hb_staff", "吴磊（市生态环境局承办）", "349900-HB", &[Role::HandlingStaff]),
    ("hb_leader", "许诺（市生态环境局分管领导）", "349900-HB", &[Role::Leader]),
    ("jy_staff", "郑丽（市教育局承办）", "349900-JY", &[Role::HandlingStaff]),
    ("jy_leader", "韩梅（市教育局分管领导）", "349900-JY", &[Role::Leader]),
    ("dczj_staff", "冯涛（东城区住建局承办）", "349901-ZJ", &[Role::HandlingStaff]),
    ("dczj_leader", "曹阳（东城区住建局分管领导）", "349901-ZJ", &[Role::Leader]),
    ("dc_leader", "邓明（东城区领导）", "349901", &[Role::Leader, Role::PetitionOffice]),
    ("leader", "林国栋（市领导）", "349900", &[Role::Leader]),
    ("supervisor", "何静（市委督查室）", "349900", &[Role::SupervisionOffice]),
    ("zj_head", "李国强（市住建局局长）", "349900-ZJ", &[Role::Leader]),
    ("grid", "马小军（幸福社区网格员）", "349901001001", &[Role::GridWorker]),
    ("dispatcher", "沈洁（东城区数字城管指挥中心受理派遣员）", "349901", &[Role::Dispatcher]),
    ("cg_staff", "蒋勇（东城区城管局处置人员）", "349901-CG", &[Role::HandlingStaff]),
    ("mediator", "高秀兰（城关街道调解员）", "349901001", &[Role::Mediator]),
    ("inspector", "罗强（河口镇安全检查员）", "349901002", &[Role::SafetyInspector]),
    ("duty", "梁晨（城关街道值班员）", "349901001", &[Role::DutyOfficer]),
    ("jd_leader", "胡斌（城关街道带班领导）", "349901001", &[Role::Leader]),
    ("sysadmin", "系统管理员", "349900", &[Role::SystemAdmin]),
    ("secadmin", "安全管理员", "349900", &[Role::SecurityAdmin]),
    ("auditor", "审计管理员", "349900", &[Role::AuditAdmin]),
];

/// A fresh random password per account and install (the case content is deterministic, the secrets are not).
fn demo_password() -> String {
    const A: &[u8] = b"abcdefghjkmnpqrstuvwxyz";
    const U: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ";
    const D: &[u8] = b"23456789";
    let mut bytes = [0u8; 9];
    rand::fill(&mut bytes[..]);
    let mut s = String::from("Tz-");
    for (i, b) in bytes.iter().enumerate() {
        let set = [A, U, D][i % 3];
        s.push(set[*b as usize % set.len()] as char);
    }
    s
}

/// The end state each demo case is driven to, in the order the workflow reaches them.
const PATHS: &[&str] = &[
    "registered",
    "assigned",
    "handling",
    "extension_pending",
    "replied",
    "closed",
    "review",
    "reviewed",
    "re_review",
    "re_review_hearing",
    "finally_closed",
    "not_accepted",
    "routed_legal",
    "forwarded_discipline",
    "duplicate",
    "suggestion_closed",
];

/// What the demo city publishes on its resident portal (a real locality writes its own `portal.toml`).
const DEMO_PORTAL: &str = r#"# 临江市（虚构）信访事项网上办理页公开的信息。信访工作条例第十八条：向社会公布信访工作机构的通信地址、
# 电子信箱、投诉电话、信访接待的时间和地点等。
office = "临江市信访局"
address = "临江市江滨路 88 号市民服务中心二楼群众来访接待大厅（虚构地址）"
hours = "工作日 8:30–12:00、14:00–17:30；法定节假日除外"
offices = ["349900-XF", "349901-XF", "349902-XF"]
statistics = ["received", "on_time", "satisfaction"]

[[channels]]
name = "来信"
detail = "临江市江滨路 88 号 临江市信访局（邮政编码 349900，虚构）"

[[channels]]
name = "来访"
detail = "市民服务中心二楼群众来访接待大厅；集体访请推选不超过 5 名代表"

[[channels]]
name = "网上信访"
detail = "本网站“网上提交信访事项”，全天可提交"

[[channels]]
name = "电话"
detail = "0000-12345（虚构号码，工作时间接听）"
"#;

/// Which department the demo district's dispatcher usually sends each kind of street problem to.
const DEMO_ROUTING: &str = r#"# 东城区（虚构）数字城管派遣规则：派遣时预先选好处置部门，受理派遣员仍可改选。
[[rules]]
kind = "grid_event"
action = "dispatch"
field = "target_unit"
when = { subclass = ["exposed_garbage", "illegal_ads", "street_vending", "construction_noise", "piled_materials", "fallen_tree"] }
unit = "349901-CG"

[[rules]]
kind = "grid_event"
action = "dispatch"
field = "target_unit"
when = { subclass = ["manhole_missing", "road_damage", "streetlight_out"] }
unit = "349901-ZJ"
"#;

/// The demo district's emergency plans: activating one on an incident opens a task per step.
const DEMO_PLANS: &str = r#"# 东城区（虚构）突发事件应急预案：启动预案时，每个步骤生成一项工作任务，交责任单位签收办理。
[[plans]]
id = "flood_iv"
name = "东城区防汛防台Ⅳ级应急响应"
on = "incident"
[[plans.steps]]
title = "转移低洼地带和危房群众"
owner_unit = "349901001"
within_minutes = 60
instructions = "逐户通知，优先转移老人、儿童，安置到村（社区）避灾点"
[[plans.steps]]
title = "排查在建工地深基坑和塔吊"
owner_unit = "349901-ZJ"
within_minutes = 120
[[plans.steps]]
title = "清理排水口，设置积水路段警示"
owner_unit = "349901-CG"
within_minutes = 90

[[plans]]
id = "fire_general"
name = "东城区一般火灾事故处置预案"
on = "incident"
[[plans.steps]]
title = "疏散周边群众，设置警戒区"
owner_unit = "349901001"
within_minutes = 30
[[plans.steps]]
title = "排查周边同类场所消防隐患"
owner_unit = "349901-ZJ"
within_minutes = 1440
"#;

pub async fn load(loc: &Location, n_cases: usize) -> DomainResult<String> {
    let now = Utc::now();
    std::fs::create_dir_all(&loc.data_dir)
        .and_then(|_| std::fs::write(loc.data_dir.join("routing.toml"), DEMO_ROUTING))
        .and_then(|_| std::fs::write(loc.data_dir.join("portal.toml"), DEMO_PORTAL))
        .and_then(|_| std::fs::write(loc.data_dir.join("plans.toml"), DEMO_PLANS))
        .map_err(|e| DomainError::new(ErrorCode::Internal, format!("无法写入门户配置 portal.toml：{e}")))?;
    let clock = Arc::new(ManualClock::new(now - Duration::days(400)));
    let svc = build(loc, clock.clone()).await?;
    let mut rng = Rng(0x7a1_2026_1121);

    // Organisation.
    let mut units: BTreeMap<&str, i64> = BTreeMap::new();
    for (code, parent, name, level) in UNITS {
        let parent_id = parent.map(|p| units[p]);
        let u = svc.create_unit(None, parent_id, code, name, level).await?;
        units.insert(code, u.id);
    }
    // Accounts, each with its own random password, set today (so the 90-day password rule starts now).
    clock.set(now);
    let mut report = String::new();
    let mut principals: BTreeMap<&str, Principal> = BTreeMap::new();
    writeln!(report, "演示账号（密码随机生成，已同时写入 {}）：", loc.data_dir.join("demo-accounts.txt").display())
        .ok();
    let mut accounts_file = String::from("# 台账演示账号 — 仅供演示，请勿用于生产\n");
    for (username, display, unit, roles) in ACCOUNTS {
        let password = demo_password();
        svc.create_user(None, username, display, units[unit], &password, roles, None).await?;
        let roles_zh: Vec<&str> = roles.iter().map(|r| r.name_zh()).collect();
        let line = format!("  {username:<11} {password:<13} {display}（{}）", roles_zh.join("、"));
        writeln!(report, "{line}").ok();
        writeln!(accounts_file, "{line}").ok();
        let (_, p) = svc.login(username, &password, Some("demo")).await?;
        principals.insert(username, p);
    }
    std::fs::write(loc.data_dir.join("demo-accounts.txt"), accounts_file)
        .map_err(|e| DomainError::new(ErrorCode::Internal, format!("无法写入演示账号文件：{e}")))?;

    responsibility_rosters(&svc, &principals, &units, now).await?;
    let office = principals["office"].clone();
    let city_leader = principals["leader"].clone();
    let district_leader = principals["dc_leader"].clone();
    let clerk = principals["clerk"].clone();
    let handlers: Vec<(&str, &str, &str)> = vec![
        // (category, handling unit code, staff username)
        ("城乡建设", "349900-ZJ", "zj_staff"),
        ("劳动和社会保障", "349900-RS", "rs_staff"),
        ("环境保护", "349900-HB", "hb_staff"),
        ("教育文体", "349900-JY", "jy_staff"),
    ];
    let leader_of = |staff: &str| match staff {
        "dczj_staff" => "dczj_leader",
        "zj_staff" => "zj_leader",
        "rs_staff" => "rs_leader",
        "hb_staff" => "hb_leader",
        _ => "jy_leader",
    };
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    let mut first_claim: Option<i64> = None;
    for i in 0..n_cases {
        // Spread intake over the past year; later steps follow at realistic intervals.
        let start = now - Duration::days(365) + Duration::minutes((i as i64 * 525_600) / n_cases as i64);
        clock.set(start);
        let path = PATHS[i % PATHS.len()];
        let (category, title, content) = *rng.pick(MATTERS);
        let matter = match path {
            "forwarded_discipline" => "accusation",
            "suggestion_closed" => "suggestion",
            _ => "claim",
        };
        // Matters that go on to 复查 and 复核 are handled at district level: the district reviews, the city
        // re-reviews (each the organ above the one before).
        let reviewed = ["reviewed", "re_review", "re_review_hearing", "finally_closed"].contains(&path);
        let (unit_code, staff) = if reviewed {
            ("349901-ZJ", "dczj_staff")
        } else {
            let h = *handlers.iter().find(|h| h.0 == category).unwrap_or(rng.pick(&handlers));
            (h.1, h.2)
        };
        let name = *rng.pick(NAMES);
        let phone = format!("13{}{:08}", 5 + rng.below(5), rng.next() % 100_000_000);
        let mut fields = Map::new();
        fields.insert("channel".into(), json!(*rng.pick(&["visit", "letter", "phone", "web", "visit"])));
        fields.insert("matter_type".into(), json!(matter));
        fields.insert("category".into(), json!(category));
        let title = if matter == "accusation" {
            "反映某单位工作人员违规收取费用".to_string()
        } else {
            title.to_string()
        };
        fields.insert("title".into(), json!(title));
        fields.insert("content".into(), json!(content));
        if matter == "accusation" {
            fields.insert("accused_unit".into(), json!(units["349901-ZJ"]));
        }
        let petitioner = PartyInput {
            role: None,
            name: name.into(),
            phone: Some(phone),
            id_number: None,
            address: Some(format!("临江市东城区{}{}号", rng.pick(STREETS), 1 + rng.below(200))),
        };
        let intake = svc
            .register(
                Actor::Staff(&clerk),
                IntakeRequest {
                    kind: "petition".into(),
                    fields,
                    petitioner: Some(petitioner),
                    parties: vec![],
                    client_request_id: None,
                    unit_id: None,
                    attachments: vec![],
                },
            )
            .await?;
        let id = intake.case.id;
        let staff_p = principals[staff].clone();
        let leader_p = principals[leader_of(staff)].clone();
        let steps = demo_steps(path, units[unit_code], first_claim);
        for (days_later, who, action, fields) in steps {
            clock.set(start + Duration::hours((days_later * 24.0) as i64));
            if clock.now() > now {
                break;
            }
            let actor = match who {
                Who::Office => Actor::Staff(&office),
                Who::Clerk => Actor::Staff(&clerk),
                Who::Staff => Actor::Staff(&staff_p),
                Who::Leader => Actor::Staff(&leader_p),
                Who::CityLeader => Actor::Staff(&city_leader),
                Who::Reviewer => {
                    if reviewed {
                        Actor::Staff(&district_leader)
                    } else {
                        Actor::Staff(&city_leader)
                    }
                }
                Who::Resident => Actor::Resident,
            };
            svc.act(actor, id, action, fields, None).await?;
        }
        if path == "replied" && first_claim.is_none() {
            first_claim = Some(id);
        }
        let row = svc.store.case(id).await.map_err(taizhang_service::se)?;
        if let Some(r) = row {
            *states.entry(r.state).or_default() += 1;
        }
    }
    let (grid_states, grid_ids) = grid_events(&svc, &clock, &principals, &units, now).await?;
    let inspected = inspections(&svc, &clock, &principals, &units, now).await?;
    let inspection_ids: Vec<i64> = inspected.values().copied().collect();
    let hazard_states = hazards(&svc, &clock, &principals, &units, now, inspected).await?;
    let mut inspection_states: BTreeMap<String, usize> = BTreeMap::new();
    for id in inspection_ids {
        if let Some(r) = svc.store.case(id).await.map_err(taizhang_service::se)? {
            *inspection_states.entry(r.state).or_default() += 1;
        }
    }
    let sources = (grid_ids.first().copied(), first_claim);
    let dispute_states = disputes(&svc, &clock, &principals, &units, now, sources).await?;
    let (incident_states, task_states) = incidents(&svc, &clock, &principals, &units, now).await?;
    let sweep_states = sweeps(&svc, &clock, &principals, now).await?;
    let daily_states = daily_reports(&svc, &clock, &principals, now).await?;
    let (shifts, visits) = duty_and_gate(&svc, &clock, &principals, &units, now).await?;
    // Petitions the district's housing bureau handled, for the reception requests.
    let filter = taizhang_store::CaseFilter {
        kind: Some("petition".into()),
        handling_unit: Some(units["349901-ZJ"]),
        limit: 2,
        ..Default::default()
    };
    let petitions: Vec<i64> =
        svc.store.list_cases(&filter).await.map_err(taizhang_service::se)?.0.iter().map(|c| c.id).collect();
    let (period_states, commitment_states) =
        periods_and_commitments(&svc, &clock, &principals, &units, now, &petitions).await?;
    let supervision_states = supervision(&svc, &clock, &principals, &units, now).await?;
    let backlog_states = backlogs(&svc, &clock, &principals, &units, now).await?;
    target_letters(&svc, &clock, &principals, &units, now).await?;
    let target_task_states = target_tasks(&svc, &clock, &principals, &units, now).await?;
    // Last month's assessment, published by the city with its circular (the dashboard shows its ranking).
    clock.set(now);
    let last_month = now.with_timezone(&china_tz()).date_naive().with_day(1).and_then(|d| d.pred_opt());
    if let Some(m) = last_month {
        let circular = NewCircular {
            period: m.format("%Y-%m").to_string(),
            title: String::new(),
            leader_text: "各单位要对照通报查找差距，对超期未办结的事项逐件明确责任人和办结时限。".into(),
        };
        svc.publish_circular(&principals["leader"], circular).await?;
    }
    // The cards the clocks call for now, as the server's sweeper would raise them at start.
    let cards = svc.sweep_cards().await?;
    writeln!(report, "\n已载入 {} 个单位、{} 个账号、{} 件信访事项：", UNITS.len(), ACCOUNTS.len(), n_cases).ok();
    let def = svc.workflows.get("petition")?;
    for (s, n) in &states {
        let name = def.state(s).map(|x| x.name.as_str()).unwrap_or(s);
        writeln!(report, "  {name}：{n} 件").ok();
    }
    let kinds = [
        ("grid_event", &grid_states),
        ("inspection", &inspection_states),
        ("hazard", &hazard_states),
        ("dispute", &dispute_states),
        ("incident", &incident_states),
        ("task", &task_states),
        ("sweep", &sweep_states),
        ("daily_report", &daily_states),
        ("special_period", &period_states),
        ("commitment", &commitment_states),
        ("supervision", &supervision_states),
        ("backlog", &backlog_states),
        ("target_task", &target_task_states),
    ];
    for (kind, states) in kinds {
        let def = svc.workflows.get(kind)?;
        writeln!(report, "{} {} 件：", def.name, states.values().sum::<usize>()).ok();
        for (s, n) in states {
            let name = def.state(s).map(|x| x.name.as_str()).unwrap_or(s);
            writeln!(report, "  {name}：{n} 件").ok();
        }
    }
    writeln!(report, "城关街道值班表 {shifts} 个班次（一次调班已批准、一次待审批），幸福幼儿园访客记录 {visits} 条")
        .ok();
    writeln!(report, "当前亮牌 {cards} 张（黄牌、红牌）；问责记录 1 条（市住建局赵明，可用 zj_staff 查看本人记录）")
        .ok();
    Ok(report)
}

/// Who answers for the city and its housing and labour bureaus. The housing bureau's head took over from the
/// deputy who had led it: the roster keeps both.
async fn responsibility_rosters(
    svc: &taizhang_service::Service,
    principals: &BTreeMap<&str, Principal>,
    units: &BTreeMap<&str, i64>,
    now: chrono::DateTime<Utc>,
) -> DomainResult<()> {
    let day = |days: i64| (now - Duration::days(days)).with_timezone(&china_tz()).format("%Y-%m-%d").to_string();
    let lines = [
        ("349900", "first", "leader", "市长", "全市信访工作第一责任人", day(420)),
        ("349900-ZJ", "first", "zj_leader", "副局长（主持工作）", "全面工作", day(420)),
        ("349900-ZJ", "direct", "zj_leader", "副局长", "分管信访、物业监管", day(420)),
        ("349900-ZJ", "first", "zj_head", "局长", "全面工作", day(170)),
        ("349900-ZJ", "joint", "zj_staff", "信访科科长", "信访事项办理（一岗双责）", day(420)),
        ("349900-RS", "direct", "rs_leader", "副局长", "分管信访、劳动保障监察", day(420)),
        ("349901-ZJ", "direct", "dczj_leader", "副局长", "分管信访", day(420)),
    ];
    let by = &principals["leader"];
    for (unit, kind, user, post, duties, starts_on) in lines {
        let line = NewResponsibility {
            unit_id: units[unit],
            kind: kind.into(),
            user_id: principals[user].user.id,
            post: post.into(),
            duties: duties.into(),
            starts_on,
        };
        svc.assign_responsibility(by, line).await?;
    }
    Ok(())
}

/// Supervision of overdue petitions: the housing bureau was reminded (催办), did not answer in time — the order
/// escalated — and was then ordered again at the next level (督办), which it answered; the labour bureau has a
/// reminder running now. The supervision office then recorded an admonition about the official who let the
/// first petition run over, traced to his decision on it.
async fn supervision(
    svc: &taizhang_service::Service,
    clock: &ManualClock,
    principals: &BTreeMap<&str, Principal>,
    units: &BTreeMap<&str, i64>,
    now: chrono::DateTime<Utc>,
) -> DomainResult<BTreeMap<String, usize>> {
    let mut states = BTreeMap::new();
    let supervisor = &principals["supervisor"];
    let overdue_of = |unit: &str| taizhang_store::CaseFilter {
        kind: Some("petition".into()),
        handling_unit: Some(units[unit]),
        clock_status: Some(taizhang_domain::deadline::ClockStatus::Overdue),
        now: Some(now - Duration::days(12)),
        limit: 1,
        ..Default::default()
    };
    let mut orders = vec![];
    for (unit, staff) in [("349900-ZJ", "zj_staff"), ("349900-RS", "rs_staff")] {
        let found = svc.store.list_cases(&overdue_of(unit)).await.map_err(taizhang_service::se)?.0;
        if let Some(c) = found.first() {
            orders.push((unit, staff, c.id, c.title.clone()));
        }
    }
    let order = |level: &str, unit: i64, case: i64, title: &str, days: i64| {
        f(&[
            ("title", json!(format!("督促办理：{title}"))),
            ("level", json!(level)),
            ("target_unit", json!(unit)),
            ("requirement", json!("该信访事项已超过办理期限，请抓紧办理并书面反馈办理进展和办结时间")),
            ("within_days", json!(days)),
            ("source_case", json!(case)),
        ])
    };
    for (unit, staff, case, title) in &orders {
        let staff = &principals[staff];
        if *unit == "349900-ZJ" {
            let first = order("remind", units[unit], *case, title, 5);
            let opened = (now - Duration::days(11), supervisor, first, vec![]);
            let (first_id, _) = play(svc, clock, now, "supervision", opened, vec![]).await?;
            // Not answered in five days: the system escalates it (the sweeper, a couple of days on).
            clock.set(now - Duration::days(4) - Duration::hours(1));
            svc.sweep().await?;
            let first_state = svc.store.case(first_id).await.map_err(taizhang_service::se)?.map(|c| c.state);
            *states.entry(first_state.unwrap_or_default()).or_default() += 1;
            let second = order("supervise", units[unit], *case, title, 7);
            let answer = f(&[("response", json!("已约谈信访人，维修方案已确定，预计两周内完工，完工后书面答复"))]);
            let steps = vec![(now - Duration::days(1), staff, "respond", answer)];
            let (_, st) =
                play(svc, clock, now, "supervision", (now - Duration::days(4), supervisor, second, vec![]), steps)
                    .await?;
            *states.entry(st).or_default() += 1;
            // 原因倒查: the last decision a staff member of the bureau took on the petition.
            clock.set(now - Duration::hours(20));
            let code = svc.store.case(*case).await.map_err(taizhang_service::se)?.map(|c| c.code).unwrap_or_default();
            let decisions = svc.decisions(supervisor, &code).await?;
            let cause = decisions.iter().rev().find(|d| d.actor_name == staff.user.display_name);
            let record = NewAccountability {
                official_id: staff.user.id,
                finding: format!("承办的信访事项 {code} 超过法定办理期限未办结，经催办逾期未反馈"),
                measure: "admonition".into(),
                decided_by: "临江市纪委监委".into(),
                decided_on: (now - Duration::days(1)).with_timezone(&china_tz()).format("%Y-%m-%d").to_string(),
                case_codes: vec![code.clone()],
                cause_case: cause.map(|_| code.clone()),
                cause_seq: cause.map(|d| d.seq),
            };
            svc.record_accountability(supervisor, record).await?;
        } else {
            let reminder = order("remind", units[unit], *case, title, 3);
            let (_, st) =
                play(svc, clock, now, "supervision", (now - Duration::days(2), supervisor, reminder, vec![]), vec![])
                    .await?;
            *states.entry(st).or_default() += 1;
        }
    }
    Ok(states)
}

/// Backlog cases (积案) with their case-contract leaders: two petitions the housing bureau has long held and one
/// of the labour bureau's, designated by the city's petition bureau, visited and met; one struck off. The
/// city's year-end campaign (清仓见底) counts them.
async fn backlogs(
    svc: &taizhang_service::Service,
    clock: &ManualClock,
    principals: &BTreeMap<&str, Principal>,
    units: &BTreeMap<&str, i64>,
    now: chrono::DateTime<Utc>,
) -> DomainResult<BTreeMap<String, usize>> {
    let mut states = BTreeMap::new();
    let oldest = |unit: &str| taizhang_store::CaseFilter {
        kind: Some("petition".into()),
        handling_unit: Some(units[unit]),
        closed: Some(false),
        terminal_states: svc.terminal_states(),
        sort: taizhang_store::CaseSort::OldestFirst,
        limit: 2,
        ..Default::default()
    };
    let office = &principals["office"];
    let plans = [
        ("349900-ZJ", "zj_head", "zj_staff", "局长李国强牵头，信访科、物业监管科、街道社区组成专班", 60, true),
        ("349900-ZJ", "zj_leader", "zj_staff", "副局长牵头，物业监管科、维修资金中心组成专班", 90, false),
        ("349900-RS", "rs_leader", "rs_staff", "副局长牵头，劳动保障监察支队、仲裁院组成专班", 45, false),
    ];
    // The oldest open petitions of each bureau, taken in turn.
    let mut sources: BTreeMap<&str, Vec<(i64, String)>> = BTreeMap::new();
    for unit in ["349900-ZJ", "349900-RS"] {
        let found = svc.store.list_cases(&oldest(unit)).await.map_err(taizhang_service::se)?.0;
        sources.insert(unit, found.into_iter().rev().map(|c| (c.id, c.title)).collect());
    }
    for (unit, leader, staff, team, days, resolved) in plans {
        let Some((case, title)) = sources.get_mut(unit).and_then(Vec::pop) else { continue };
        let fields = f(&[
            ("title", json!(format!("积案：{title}"))),
            ("content", json!("信访人多次到市、区反映，历经答复仍不满意，诉求涉及历史遗留问题，须多部门协调化解")),
            ("source_case", json!(case)),
            ("owner_unit", json!(units[unit])),
            ("contract_leader", json!(principals[leader].user.id)),
            ("team", json!(team)),
            (
                "plan",
                json!(
                    "一、两周内包案领导带队上门走访，面对面听取诉求；二、一个月内召开协调会，明确责任和资金；三、落实措施后书面答复并回访"
                ),
            ),
            ("within_days", json!(days)),
        ]);
        let day = |d: i64| (now - Duration::days(d)).with_timezone(&china_tz()).format("%Y-%m-%d").to_string();
        let mut steps = vec![
            (
                now - Duration::days(30),
                &principals[staff],
                "contact",
                f(&[
                    ("contact_kind", json!("visit")),
                    ("contact_date", json!(day(30))),
                    ("contact_note", json!("包案领导带专班上门走访，信访人提出三项诉求，约定两周内召开协调会")),
                ]),
            ),
            (
                now - Duration::days(16),
                &principals[staff],
                "contact",
                f(&[
                    ("contact_kind", json!("meeting")),
                    ("contact_date", json!(day(16))),
                    ("contact_note", json!("召开协调会，相关部门明确维修责任和资金来源，信访人表示认可")),
                ]),
            ),
        ];
        if resolved {
            // Struck off above the unit: by the city's leader.
            steps.push((
                now - Duration::days(3),
                &principals["leader"],
                "resolve",
                f(&[("resolution", json!("维修完成并经信访人验收，信访人签字确认息诉罢访"))]),
            ));
        }
        let (_, st) =
            play(svc, clock, now, "backlog", (now - Duration::days(40), office, fields, vec![]), steps).await?;
        *states.entry(st).or_default() += 1;
    }
    clock.set(now - Duration::days(40));
    let year = now.with_timezone(&china_tz()).format("%Y").to_string();
    svc.create_campaign(
        &principals["leader"],
        NewCampaign {
            name: format!("{year}年积案化解“清仓见底”专项行动"),
            starts_on: format!("{year}-10-01"),
            ends_on: format!("{year}-12-31"),
            target_rate: 90,
        },
    )
    .await?;
    Ok(states)
}

/// The year's target responsibility letters signed in January: the city's with its housing and labour bureaus,
/// and 东城区's with 城关街道, which holds the street to its monthly dispute sweep (零报告 compliance 100 %).
async fn target_letters(
    svc: &taizhang_service::Service,
    clock: &ManualClock,
    principals: &BTreeMap<&str, Principal>,
    units: &BTreeMap<&str, i64>,
    now: chrono::DateTime<Utc>,
) -> DomainResult<()> {
    let year = now.with_timezone(&china_tz()).format("%Y").to_string();
    clock.set(now - Duration::days(300));
    let item = |indicator: &str, target: f64, weight: f64| LetterItem { indicator: indicator.into(), target, weight };
    let bureau = || {
        vec![
            item("timely_acceptance", 100.0, 20.0),
            item("on_time_handling", 95.0, 40.0),
            item("participation", 80.0, 10.0),
            item("satisfaction", 90.0, 30.0),
        ]
    };
    let street = vec![
        item("sweep_compliance", 100.0, 50.0),
        item("on_time_handling", 95.0, 30.0),
        item("backlog_clearance", 60.0, 20.0),
    ];
    let letters = [
        ("349900-ZJ", "局长 李国强", "leader", "市领导 林国栋", bureau()),
        ("349900-RS", "局长 周建平", "leader", "市领导 林国栋", bureau()),
        ("349901001", "街道党工委书记 胡斌", "dc_leader", "区领导 邓明", street),
    ];
    for (unit, signer, issuer, issuer_signer, items) in letters {
        let letter = NewLetter {
            unit_id: units[unit],
            period: year.clone(),
            title: String::new(),
            unit_signer: signer.into(),
            issuer_signer: issuer_signer.into(),
            signed_on: format!("{year}-01-15"),
            items,
        };
        svc.create_letter(&principals[issuer], letter).await?;
    }
    Ok(())
}

/// A target broken down (目标倒逼): the city gave 东城区 its elevator-safety task; the district split it between
/// its housing bureau (late now; a second part given yesterday) and 城关街道 (done); the district withdrew a
/// duplicate it had given by mistake.
async fn target_tasks(
    svc: &taizhang_service::Service,
    clock: &ManualClock,
    principals: &BTreeMap<&str, Principal>,
    units: &BTreeMap<&str, i64>,
    now: chrono::DateTime<Utc>,
) -> DomainResult<BTreeMap<String, usize>> {
    let mut states = BTreeMap::new();
    let task = |title: &str, unit: &str, owner: &str, days: i64, from: Option<i64>| {
        let mut fields = f(&[
            ("title", json!(title)),
            ("instructions", json!("对照整治标准逐项完成，按期报送完成情况和佐证材料")),
            ("owner_unit", json!(units[unit])),
            ("owner", json!(principals[owner].user.id)),
            ("within_days", json!(days)),
        ]);
        if let Some(from) = from {
            fields.insert("source_case".into(), json!(from));
        }
        fields
    };
    let (dc_leader, dczj, jd) = (&principals["dc_leader"], &principals["dczj_leader"], &principals["jd_leader"]);
    let top = task("年底前完成老旧小区电梯安全隐患整治", "349901", "dc_leader", 60, None);
    let sign = (now - Duration::days(19), dc_leader, "sign_for", Map::new());
    let (t1, st) = play(
        svc,
        clock,
        now,
        "target_task",
        (now - Duration::days(20), &principals["leader"], top, vec![]),
        vec![sign],
    )
    .await?;
    *states.entry(st).or_default() += 1;
    let parts = [
        ("城区 42 部老旧电梯隐患排查整治", "349901-ZJ", "dczj_leader", dczj, 10, false),
        ("街道辖区电梯底数摸排", "349901001", "jd_leader", jd, 15, true),
    ];
    for (title, unit, owner, who, days, done) in parts {
        let mut steps = vec![(now - Duration::days(17), who, "sign_for", Map::new())];
        if done {
            steps.push((
                now - Duration::days(6),
                who,
                "complete",
                f(&[("result", json!("摸排电梯 36 部，台账已报区住建局"))]),
            ));
        }
        let opened = (now - Duration::days(18), dc_leader, task(title, unit, owner, days, Some(t1)), vec![]);
        let (_, st) = play(svc, clock, now, "target_task", opened, steps).await?;
        *states.entry(st).or_default() += 1;
    }
    // Given yesterday, not yet signed for.
    let fresh = task("约谈电梯维保单位并督促签订整改承诺", "349901-ZJ", "dczj_leader", 7, Some(t1));
    let (_, st) =
        play(svc, clock, now, "target_task", (now - Duration::days(1), dc_leader, fresh, vec![]), vec![]).await?;
    *states.entry(st).or_default() += 1;
    let mistaken = task("城区电梯隐患排查整治（重复下达）", "349901-ZJ", "dczj_leader", 10, Some(t1));
    let withdraw = (now - Duration::days(17), dc_leader, "cancel", f(&[("reason", json!("与已下达任务重复"))]));
    let (_, st) =
        play(svc, clock, now, "target_task", (now - Duration::days(18), dc_leader, mistaken, vec![]), vec![withdraw])
            .await?;
    *states.entry(st).or_default() += 1;
    Ok(states)
}

/// (code, name, sector, responsible unit, address) — the sites inspectors visit.
const SITES: &[(&str, &str, &str, &str, &str)] = &[
    ("LJ-SZ-003", "临江市第三中学", "school", "349900-JY", "东城区幸福路 88 号"),
    ("DC-HK-XX01", "河口镇中心小学", "school", "349900-JY", "东城区河口镇河口村"),
    ("DC-CG-YEY01", "城关街道幸福幼儿园", "school", "349900-JY", "东城区幸福路 12 号"),
    ("DC-ZJ-GMJ01", "光明街安置房工地", "construction", "349901-ZJ", "东城区光明街 80 号"),
    ("DC-CG-NM01", "幸福路农贸市场", "crowded_place", "349901001", "东城区幸福路 36 号"),
    ("DC-QY-JC01", "东城区某建材厂", "other", "349901-ZJ", "东城区工业园 6 号"),
    ("XH-HB-WH01", "湖滨街道文化活动中心", "crowded_place", "349902001", "西湖区滨江大道 9 号"),
];

/// (site, location, checklist item, title, description) — what an inspector finds on a round.
const HAZARD_MATTERS: &[(&str, &str, &str, &str, &str)] = &[
    ("LJ-SZ-003", "学生宿舍 2 号楼", "wiring", "宿舍私拉电线充电", "走廊私拉电线给电动车充电，插线板放在木柜上。"),
    ("DC-HK-XX01", "食堂后厨", "canteen", "燃气软管老化", "燃气灶连接软管老化开裂，未安装燃气泄漏报警器。"),
    ("DC-CG-YEY01", "教学楼一楼", "evacuation", "疏散通道堆放杂物", "东侧安全出口被桌椅杂物堵塞。"),
    ("DC-ZJ-GMJ01", "3 号楼塔吊", "lifting", "塔吊附墙件松动", "塔吊第二道附墙件螺栓松动，未按方案检查。"),
    ("DC-CG-NM01", "二楼商铺", "fire_equipment", "消防栓无水", "二楼 3 个室内消火栓无水，水带缺失。"),
    ("DC-QY-JC01", "粉尘车间", "wiring", "粉尘车间未设防爆设施", "木粉尘车间电气不防爆，除尘系统停用。"),
];

/// The sites, and one inspection of each against its sector's checklist, before the hazards are registered:
/// each item passes except the one where the site's hazard was found. Returns each site's inspection.
async fn inspections(
    svc: &taizhang_service::Service,
    clock: &ManualClock,
    principals: &BTreeMap<&str, Principal>,
    units: &BTreeMap<&str, i64>,
    now: chrono::DateTime<Utc>,
) -> DomainResult<BTreeMap<&'static str, i64>> {
    let inspector = &principals["inspector"];
    let mut ids = BTreeMap::new();
    for (i, (code, name, sector, unit, address)) in SITES.iter().enumerate() {
        let site = taizhang_store::Site {
            code: code.to_string(),
            name: name.to_string(),
            sector: sector.to_string(),
            unit_id: units[unit],
            address: address.to_string(),
            visitor_retention_days: 30,
        };
        svc.create_site(None, site).await?;
        let found = HAZARD_MATTERS.iter().find(|m| m.0 == *code);
        let answers: Map<String, Value> = svc
            .checklists
            .sector_or_err(sector)?
            .items
            .iter()
            .map(|item| match found {
                Some((_, location, it, title, _)) if *it == item.id => {
                    (item.id.clone(), json!({"result": "hazard", "note": format!("{location}：{title}")}))
                }
                _ => (item.id.clone(), json!({"result": "ok"})),
            })
            .collect();
        // Inspected three hours before its first hazard is registered; a site whose hazard is not yet
        // registered was inspected the day before yesterday, one with nothing found a month ago.
        let first_hazard = HAZARD_PATHS.iter().enumerate().position(|(h, path)| hazard_matter(h, path).0 == *code);
        let day = match (first_hazard, found) {
            (Some(h), _) => now - Duration::days(40 - h as i64) - Duration::hours(3),
            (None, Some(_)) => now - Duration::days(2),
            (None, None) => now - Duration::days(30 - i as i64),
        };
        let fields = f(&[
            ("site", json!(code)),
            ("inspected_on", json!(day.with_timezone(&china_tz()).date_naive().to_string())),
            ("inspectors", json!("王强、李明")),
            ("findings", Value::Object(answers)),
            (
                "summary",
                json!(if found.is_some() {
                    "发现隐患，当场告知负责人，逐项登记整改"
                } else {
                    "未发现隐患"
                }),
            ),
        ]);
        // Nothing found: filed the same day. Otherwise filed once its hazard is registered (below).
        let steps: Vec<Step<'_>> = if found.is_none() {
            vec![(day + Duration::hours(2), inspector, "file", f(&[("note", json!("未发现隐患，归档"))]))]
        } else {
            vec![]
        };
        let (id, _) = play(svc, clock, now, "inspection", (day, inspector, fields, vec![]), steps).await?;
        ids.insert(*code, id);
    }
    Ok(ids)
}

/// What the `i`th hazard (driven to `path`) is: major ones are at the building-materials plant.
fn hazard_matter(i: usize, path: &str) -> (&'static str, &'static str, &'static str, &'static str, &'static str) {
    if MAJOR_PATHS.contains(&path) { HAZARD_MATTERS[5] } else { HAZARD_MATTERS[i % 5] }
}

const MAJOR_PATHS: &[&str] =
    &["major_reported", "plan_approved", "major_rectifying", "evaluated", "review_pending", "closed_major"];

/// The end states hazards are driven to.
const HAZARD_PATHS: &[&str] = &[
    "identified",
    "rectifying",
    "self_checked",
    "closed",
    "major_reported",
    "plan_approved",
    "major_rectifying",
    "evaluated",
    "review_pending",
    "closed_major",
    "dismissed",
];

/// Hazards from the last weeks in every state, played action by action.
async fn hazards(
    svc: &taizhang_service::Service,
    clock: &ManualClock,
    principals: &BTreeMap<&str, Principal>,
    units: &BTreeMap<&str, i64>,
    now: chrono::DateTime<Utc>,
    mut inspections: BTreeMap<&'static str, i64>,
) -> DomainResult<BTreeMap<String, usize>> {
    let inspector = &principals["inspector"];
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for (i, path) in HAZARD_PATHS.iter().enumerate() {
        let (site, location, item, title, description) = hazard_matter(i, path);
        let sector = SITES.iter().find(|s| s.0 == site).map(|s| s.2).unwrap_or("other");
        let item_name =
            svc.checklists.sector(sector).and_then(|s| s.items.iter().find(|x| x.id == item)).map(|x| x.name.clone());
        // Schools answer to the education bureau, the rest to the district's housing and construction bureau.
        let (dept, staff, leader) = if sector == "school" {
            ("349900-JY", &principals["jy_staff"], &principals["jy_leader"])
        } else {
            ("349901-ZJ", &principals["dczj_staff"], &principals["dczj_leader"])
        };
        let start = now - Duration::days(40 - i as i64);
        let at = |days: i64| start + Duration::days(days);
        let mut fields = f(&[
            ("site", json!(site)),
            ("location", json!(location)),
            ("checklist_item", json!(item_name)),
            ("title", json!(title)),
            ("description", json!(description)),
        ]);
        // The first hazard at a site comes from its inspection, which is then filed.
        let source = inspections.remove(site);
        if let Some(inspection) = source {
            fields.insert("inspection".into(), json!(inspection));
        }
        let mut steps: Vec<(i64, &Principal, &str, Map<String, Value>)> = vec![];
        let notice = f(&[
            ("grade", json!("general")),
            ("target_unit", json!(units[dept])),
            ("rectify_within", json!("d7")),
            ("requirements", json!("立即整改，整改完成后书面报告")),
            ("legal_basis", json!("《中华人民共和国安全生产法》第四十一条")),
        ]);
        match *path {
            "identified" => {}
            "dismissed" => steps.push((1, inspector, "dismiss", f(&[("reason", json!("经复核不构成隐患"))]))),
            "rectifying" | "self_checked" | "closed" => {
                steps.push((1, inspector, "issue_notice", notice));
                if *path != "rectifying" {
                    steps.push((5, staff, "self_check", f(&[("note", json!("已按要求整改完毕，附整改照片"))])));
                }
                if *path == "closed" {
                    steps.push((8, inspector, "close_out", f(&[("note", json!("现场核查整改到位"))])));
                }
            }
            _ => {
                steps.push((
                    1,
                    inspector,
                    "report_major",
                    f(&[
                        ("grade", json!("major")),
                        ("target_unit", json!(units[dept])),
                        ("production_stopped", json!("partial")),
                        ("enforcement", json!("order_stop")),
                        ("legal_basis", json!("《中华人民共和国安全生产法》第七十条")),
                    ]),
                ));
                let stage = MAJOR_PATHS.iter().position(|p| p == path).unwrap_or(0);
                let later: Vec<(i64, &Principal, &str, Map<String, Value>)> = vec![
                    (
                        5,
                        leader,
                        "approve_plan",
                        f(&[
                            ("measures", json!("更换防爆电气，恢复除尘系统并加装监测报警")),
                            ("responsibility", json!("厂长（第一责任人）、安全主管")),
                            ("funds", json!("企业自筹 80 万元")),
                            ("deadline_text", json!("90 日内")),
                            ("contingency", json!("停产车间专人值守，制定粉尘爆炸专项应急预案")),
                            ("rectify_within", json!("d90")),
                        ]),
                    ),
                    (6, staff, "start_major_rectification", f(&[])),
                    (20, staff, "evaluate", f(&[("note", json!("第三方机构评估合格"))])),
                    (21, staff, "apply_close_out", f(&[("note", json!("申请复产和销号"))])),
                    (25, inspector, "close_out", f(&[("note", json!("现场核查合格，同意复产"))])),
                ];
                steps.extend(later.into_iter().take(stage));
            }
        }
        let steps = steps.into_iter().map(|(days, who, action, fields)| (at(days), who, action, fields)).collect();
        let (_, state) = play(svc, clock, now, "hazard", (at(0), inspector, fields, vec![]), steps).await?;
        *states.entry(state).or_default() += 1;
        if let Some(inspection) = source {
            clock.set(at(0) + Duration::hours(1));
            svc.act(Actor::Staff(inspector), inspection, "file", f(&[("note", json!("隐患已登记"))]), None).await?;
        }
    }
    Ok(states)
}

/// (subclass, title, location, description) — what a grid worker in an old town centre reports.
const GRID_MATTERS: &[(&str, &str, &str, &str)] = &[
    ("exposed_garbage", "菜市场北门垃圾堆放", "幸福路菜市场北门", "早市结束后约 5 袋生活垃圾堆在路边，有异味。"),
    ("street_vending", "人行道占道卖水果", "幸福路 36 号门前", "三轮车占用人行道经营，行人需绕行到机动车道。"),
    ("illegal_ads", "电线杆张贴小广告", "光明街与幸福路交叉口", "两根电线杆上张贴办证、开锁小广告十余张。"),
    ("manhole_missing", "人行道井盖缺失", "幸福路 12 号对面人行道", "雨水井盖缺失，已用锥桶临时围挡，夜间有坠落危险。"),
    ("road_damage", "路面坑槽", "光明街 80 号门前", "机动车道出现约 1 平方米坑槽，积水严重。"),
    ("streetlight_out", "路灯不亮", "幸福社区 3 号楼旁小路", "连续 3 盏路灯夜间不亮，居民反映出行不安全。"),
    ("piled_materials", "楼道外堆放建材", "幸福小区 5 栋东侧", "装修户在绿地上堆放沙石、砖块。"),
    ("construction_noise", "夜间施工噪声", "光明街地铁施工围挡", "晚上 11 点后仍在破碎路面，噪声很大。"),
    ("fallen_tree", "行道树倾斜", "幸福路 50 号", "台风后一棵行道树严重倾斜，压在围墙上。"),
];

/// The end states grid events are driven to (several of each).
const GRID_PATHS: &[&str] = &[
    "reported",
    "registered",
    "handling",
    "extension_pending",
    "suspended",
    "handled",
    "closed",
    "closed",
    "closed",
    "reworked",
    "not_registered",
    "voided",
    "overdue",
];

/// Grid events from the last four weeks in every state, each played action by action in office hours.
async fn grid_events(
    svc: &taizhang_service::Service,
    clock: &ManualClock,
    principals: &BTreeMap<&str, Principal>,
    units: &BTreeMap<&str, i64>,
    now: chrono::DateTime<Utc>,
) -> DomainResult<(BTreeMap<String, usize>, Vec<i64>)> {
    let mut ids = vec![];
    let (grid, dispatcher, staff) = (&principals["grid"], &principals["dispatcher"], &principals["cg_staff"]);
    for n in 1..=6 {
        let g = taizhang_store::Grid {
            code: format!("349901001001{n:03}"),
            name: format!("幸福社区第{n}网格"),
            layer: "unit".into(),
            unit_id: units["349901001001"],
            owner_user_id: Some(grid.user.id),
        };
        svc.create_grid(None, g).await?;
    }
    let dept = json!(units["349901-CG"]);
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for (i, path) in GRID_PATHS.iter().cycle().take(GRID_PATHS.len() * 2).enumerate() {
        let (subclass, title, location, description) = GRID_MATTERS[i % GRID_MATTERS.len()];
        let days_ago =
            if ["reported", "registered", "handling", "extension_pending"].contains(path) { 0 } else { 2 + i as i64 };
        let day = (now - Duration::days(days_ago)).with_timezone(&taizhang_domain::deadline::china_tz()).date_naive();
        // The open ones five hours ago (whatever the hour now), the others at 9:00 on their day.
        let nine = if days_ago == 0 {
            now - Duration::minutes(300)
        } else {
            day.and_hms_opt(1, 0, 0).map(|t| t.and_utc()).unwrap_or(now)
        };
        let at = |minutes: i64| nine + Duration::minutes(minutes);
        let fields = f(&[
            ("source", json!(if i % 4 == 3 { "public" } else { "grid_worker" })),
            ("subclass", json!(subclass)),
            ("grid_code", json!(format!("349901001001{:03}", 1 + i % 6))),
            ("location", json!(location)),
            ("title", json!(title)),
            ("description", json!(description)),
        ]);
        let mut steps: Vec<(i64, &Principal, &str, Map<String, Value>)> = vec![];
        let register = (10, dispatcher, "register_event", f(&[("note", json!("经核实属实，予以立案"))]));
        let dispatch = (20, dispatcher, "dispatch", f(&[("target_unit", dept.clone())]));
        let feedback =
            |m: i64| (m, staff, "feedback", f(&[("feedback", json!("已安排人员现场处置完毕，附处置后照片。"))]));
        match *path {
            "reported" => {}
            "not_registered" => {
                steps.push((15, dispatcher, "not_register", f(&[("reason", json!("与已立案的案卷重复"))])))
            }
            _ => {
                steps.push(register);
                match *path {
                    "registered" => {}
                    "voided" => {
                        steps.push((30, dispatcher, "void", f(&[("reason", json!("经核实已由产权单位自行处理"))])))
                    }
                    _ => {
                        steps.push(dispatch);
                        match *path {
                            "extension_pending" => steps.push((
                                40,
                                staff,
                                "request_extension",
                                f(&[("extension_hours", json!(4)), ("reason", json!("需协调产权单位到场"))]),
                            )),
                            "suspended" => steps.push((
                                60,
                                dispatcher,
                                "suspend",
                                f(&[("reason", json!("需待管线迁改完成后处置"))]),
                            )),
                            "handled" => steps.push(feedback(100)),
                            "closed" => {
                                steps.push(feedback(100));
                                steps.push((150, grid, "verify_pass", f(&[("note", json!("现场核查，已处置到位"))])));
                            }
                            "reworked" => {
                                steps.push(feedback(100));
                                steps.push((130, grid, "rework", f(&[("reason", json!("现场核查仍未处置到位"))])));
                                steps.push(feedback(200));
                                steps.push((240, grid, "verify_pass", f(&[("note", json!("返工后核查合格"))])));
                            }
                            _ => {} // "handling" and "overdue": still with the department
                        }
                    }
                }
            }
        }
        let steps = steps.into_iter().map(|(m, who, action, fields)| (at(m), who, action, fields)).collect();
        let (id, state) = play(svc, clock, now, "grid_event", (at(0), grid, fields, vec![]), steps).await?;
        ids.push(id);
        *states.entry(state).or_default() += 1;
    }
    Ok((states, ids))
}

fn person(role: &str, name: &str, phone: &str) -> PartyInput {
    PartyInput { role: Some(role.into()), name: name.into(), phone: Some(phone.into()), ..Default::default() }
}

/// (type, title, facts, claims, applicant, respondent) — what reaches a street's mediation committee.
const DISPUTE_MATTERS: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "neighbour",
        "楼上漏水纠纷",
        "502 室卫生间防水层破损，致 402 室天花板多次渗水发霉",
        "修复防水并赔偿装修损失",
        "黄丽华",
        "杨志强",
    ),
    (
        "property_mgmt",
        "物业费与电梯维修纠纷",
        "业主以电梯长期故障为由拒交物业费，物业公司催缴",
        "维修电梯后再协商物业费",
        "幸福小区业主代表吴建平",
        "临江某物业公司",
    ),
    (
        "homestead",
        "宅基地界址纠纷",
        "两户翻建房屋时对共用滴水巷宽度有争议，发生推搡",
        "按原宅基地证确定界址",
        "徐长根",
        "徐长林",
    ),
    (
        "labour",
        "装修工人工资纠纷",
        "装修班组完工后，包工头以质量问题为由拖欠 3 名工人工资 1.2 万元",
        "支付拖欠工资",
        "唐军",
        "某装饰工作室",
    ),
    (
        "marriage_family",
        "赡养老人纠纷",
        "三个子女对母亲住院费用分担意见不一",
        "按约定分担医疗费并轮流照料",
        "曹桂芳",
        "曹伟",
    ),
    (
        "damages",
        "电动车碰撞赔偿纠纷",
        "小区内电动车与行人碰撞，行人腿部擦伤",
        "赔偿医疗费和误工费 3000 元",
        "谢芳",
        "钟浩",
    ),
    ("contract", "房屋租赁押金纠纷", "租期届满后房东以墙面污损为由扣留押金 4000 元", "退还押金", "潘小雨", "罗德明"),
    (
        "neighbour",
        "楼道堆物纠纷",
        "三楼住户在楼道长期堆放杂物，四楼住户多次交涉未果",
        "清理楼道杂物",
        "王秀英",
        "李建国",
    ),
    ("neighbour", "养犬扰民纠纷", "邻居所养大型犬夜间吠叫，且未拴绳", "文明养犬，夜间不扰民", "孔令华", "何俊"),
];

/// The end states mediations are driven to.
const DISPUTE_PATHS: &[&str] = &[
    "applied",
    "registered",
    "mediating",
    "agreement_signing",
    "performing",
    "performed",
    "breached",
    "terminated",
    "refused",
];

/// Mediations from the last two months in every state; one opened from a grid event, one from a petition.
async fn disputes(
    svc: &taizhang_service::Service,
    clock: &ManualClock,
    principals: &BTreeMap<&str, Principal>,
    units: &BTreeMap<&str, i64>,
    now: chrono::DateTime<Utc>,
    (grid_event, petition): (Option<i64>, Option<i64>),
) -> DomainResult<BTreeMap<String, usize>> {
    let mediator = &principals["mediator"];
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for (i, path) in DISPUTE_PATHS.iter().enumerate() {
        let (ty, title, facts, claims, applicant, respondent) = DISPUTE_MATTERS[i];
        let start = now - Duration::days(60 - 5 * i as i64);
        let at = |days: i64| start + Duration::days(days) + Duration::hours(2);
        let mut fields = f(&[
            ("origin", json!(if i % 3 == 0 { "initiative" } else { "application" })),
            ("dispute_type", json!(ty)),
            ("title", json!(title)),
            ("facts", json!(facts)),
            ("claims", json!(claims)),
            ("committee", json!(units["349901001"])),
        ]);
        // Opened from a grid worker's report, or from a petition the reception clerk registered.
        let opener = match (i, grid_event, petition) {
            (6, Some(g), _) => {
                fields.insert("source_case".into(), json!(g));
                fields.insert("origin".into(), json!("referral"));
                &principals["grid"]
            }
            (7, _, Some(p)) => {
                fields.insert("source_case".into(), json!(p));
                fields.insert("origin".into(), json!("referral"));
                &principals["clerk"]
            }
            _ => mediator,
        };
        let parties = vec![
            person("applicant", applicant, &format!("1390571{:04}", 2000 + i)),
            person("respondent", respondent, &format!("1390571{:04}", 3000 + i)),
        ];
        let mut steps: Vec<(i64, &str, Map<String, Value>)> = vec![];
        if *path == "refused" {
            steps.push((
                1,
                "refuse",
                f(&[("reason", json!("被申请人明确表示不同意调解")), ("other_routes", json!("可向人民法院提起诉讼"))]),
            ));
        } else {
            let agreement = f(&[
                ("agreement_terms", json!(format!("{respondent}于十日内{claims}"))),
                ("performance_terms", json!("双方自行履行，调解员回访")),
                ("performance_deadline", json!((start + Duration::days(20)).format("%Y-%m-%d").to_string())),
            ]);
            let all: Vec<(i64, &str, Map<String, Value>)> = vec![
                (1, "accept", f(&[("mediators", json!([mediator.user.id]))])),
                (3, "open_session", f(&[("session_mode", json!(if i % 2 == 0 { "public" } else { "closed" }))])),
                (
                    3,
                    "record_session",
                    f(&[("session_record", json!("双方分别陈述，调解员释明相关法律规定，双方同意协商"))]),
                ),
                (6, "reach_written_agreement", agreement),
                (
                    7,
                    "agreement_effective",
                    f(&[
                        ("parties_signed", json!("yes")),
                        ("mediator_signed", json!("yes")),
                        ("seal_applied", json!("yes")),
                    ]),
                ),
            ];
            let upto = match *path {
                "applied" => 0,
                "registered" => 1,
                "mediating" => 3,
                "agreement_signing" => 4,
                "terminated" => 3,
                _ => 5,
            };
            steps.extend(all.into_iter().take(upto));
            match *path {
                "terminated" => steps.push((
                    12,
                    "terminate",
                    f(&[
                        ("end_reason", json!("no_agreement")),
                        ("other_routes", json!("可申请劳动仲裁或向人民法院起诉")),
                    ]),
                )),
                "performing" => steps.push((10, "follow_up", f(&[("note", json!("回访：已部分履行"))]))),
                "performed" => {
                    steps.push((9, "apply_confirmation", f(&[("court", json!("临江市东城区人民法院"))])));
                    steps.push((14, "record_confirmation", f(&[("confirmation_outcome", json!("confirmed"))])));
                    steps.push((18, "performed", f(&[("note", json!("回访确认已全部履行"))])));
                }
                "breached" => steps.push((
                    25,
                    "breached",
                    f(&[("note", json!("期满未履行")), ("other_routes", json!("可持调解协议向人民法院起诉"))]),
                )),
                _ => {}
            }
        }
        let steps = steps.into_iter().map(|(d, a, fields)| (at(d), mediator, a, fields)).collect();
        let (_, state) = play(svc, clock, now, "dispute", (at(0), opener, fields, parties), steps).await?;
        *states.entry(state).or_default() += 1;
    }
    Ok(states)
}

/// The dispute sweeps (排查): the street's mediator has reported what was found every month of the past twelve (the
/// one three months back late), the community's grid worker has filed nil reports for the last three; the other
/// townships and villages have not reported, which the district sees as 漏报.
async fn sweeps(
    svc: &taizhang_service::Service,
    clock: &ManualClock,
    principals: &BTreeMap<&str, Principal>,
    now: chrono::DateTime<Utc>,
) -> DomainResult<BTreeMap<String, usize>> {
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    let local = now.with_timezone(&taizhang_domain::deadline::china_tz());
    for back in (1..=12).rev() {
        let (mut year, mut month) = (local.year(), local.month() as i32 - back);
        if month <= 0 {
            year -= 1;
            month += 12;
        }
        let Some(period_end) = taizhang_domain::periodic::due_at(year, month as u32, 1) else { continue };
        // Filed on the 3rd of the following month, or the 8th (late) for the oldest month.
        let day = |d: i64| period_end + Duration::days(d - 2) + Duration::hours(2);
        let found = f(&[
            ("year", json!(year)),
            ("month", json!(month)),
            ("result", json!("found")),
            ("found_count", json!(2 + back)),
            ("findings", json!("排查发现邻里纠纷、物业纠纷各若干起，均已登记调解")),
        ]);
        let nil = f(&[("year", json!(year)), ("month", json!(month)), ("result", json!("nil"))]);
        let mut archive = vec![];
        if back == 3 {
            archive.push((day(20), &principals["jd_leader"], "archive", f(&[])));
        }
        // Last month's is filed an hour ago when the 3rd has not come yet, so the demo holds the same reports
        // whatever day it is built on.
        let filed = (if back == 3 { day(8) } else { day(3) }).min(now - Duration::hours(1));
        for (who, fields, steps) in [("mediator", found, archive), ("grid", nil, vec![])] {
            if who == "grid" && back > 3 {
                continue;
            }
            let (_, state) = play(svc, clock, now, "sweep", (filed, &principals[who], fields, vec![]), steps).await?;
            *states.entry(state).or_default() += 1;
        }
    }
    Ok(states)
}

/// 城关街道's duty roster from a week ago for three weeks (its officer and the mediator in turn, its leader
/// leading), with one swap approved and one waiting; and a few days of visitors at the kindergarten's gate, kept
/// by the education bureau. Returns (shifts, visits).
async fn duty_and_gate(
    svc: &taizhang_service::Service,
    clock: &ManualClock,
    principals: &BTreeMap<&str, Principal>,
    units: &BTreeMap<&str, i64>,
    now: chrono::DateTime<Utc>,
) -> DomainResult<(usize, usize)> {
    let today = now.with_timezone(&china_tz()).date_naive();
    let jd = units["349901001"];
    clock.set(now - Duration::days(8));
    let rotation = taizhang_service::duty::Rotation {
        unit_id: jd,
        from: (today - Duration::days(7)).to_string(),
        days: 21,
        starts: "08:30".into(),
        officers: vec![principals["duty"].user.id, principals["mediator"].user.id],
        leaders: vec![principals["jd_leader"].user.id],
        phone: "0591-83210110".into(),
    };
    let shifts = svc.create_rotation(&principals["jd_leader"], rotation).await?;
    // The duty officer's shifts are every other day from a week ago: the 3rd and 11th of them are handed on.
    let swap = |shift: i64, reason: &'static str| async move {
        svc.request_swap(&principals["duty"], shift, principals["mediator"].user.id, reason).await
    };
    let first = swap(shifts[4], "孩子发烧需陪同就医").await?;
    svc.decide_swap(&principals["dc_leader"], shifts[4], first, true).await?;
    clock.set(now);
    swap(shifts[20], "参加区里组织的应急演练培训").await?;

    let mut visits = 0;
    let people = [
        ("陈志强", "13905910001", "送教具", "园长办公室"),
        ("林美华", "13805910002", "接孩子提前离园", "大一班王老师"),
        ("黄建平", "13705910003", "维修空调", "后勤处"),
        ("郑晓东", "13605910004", "食材配送", "食堂"),
    ];
    for back in (0..5i64).rev() {
        for (i, (name, phone, purpose, host)) in people.iter().enumerate() {
            let Some(at) = (today - Duration::days(back))
                .and_hms_opt(8 + 2 * i as u32, 10 * i as u32, 0)
                .and_then(|t| t.and_local_timezone(china_tz()).single())
                .map(|t| t.with_timezone(&Utc))
                .filter(|t| *t < now)
            else {
                continue;
            };
            clock.set(at);
            let v = taizhang_service::visitors::VisitInput {
                name: name.to_string(),
                phone: phone.to_string(),
                purpose: purpose.to_string(),
                host: host.to_string(),
            };
            let id = svc.sign_in_visitor(&principals["jy_staff"], "DC-CG-YEY01", v).await?;
            clock.set((at + Duration::minutes(35)).min(now));
            if at + Duration::minutes(35) < now {
                svc.sign_out_visitor(&principals["jy_staff"], "DC-CG-YEY01", id).await?;
            }
            visits += 1;
        }
    }
    Ok((shifts.len(), visits))
}

/// A resident's appointment request, as the portal writes it (the demo has no query passwords to hand).
async fn book(
    svc: &taizhang_service::Service,
    slot_id: i64,
    case_id: i64,
    request: &str,
    at: chrono::DateTime<Utc>,
) -> DomainResult<i64> {
    let booking = taizhang_store::Booking {
        id: 0,
        slot_id,
        case_id,
        request: request.into(),
        requested_at: at,
        status: "requested".into(),
        reply: String::new(),
        decided_by: None,
        decided_at: None,
        record_case_id: None,
    };
    let id = svc.store.create_booking(booking, 99).await.map_err(taizhang_service::se)?;
    id.ok_or_else(|| DomainError::new(ErrorCode::Internal, "演示约访未能写入"))
}

/// Three special periods of the district — one that ended last month, one running now (two reports a day, so
/// 城关街道's 9:00 round shows on 日报告), one planned for next month; reception sessions — last week's, where a
/// confirmed request on `petitions[0]` was received and recorded, and two next week on the portal, one with a
/// request on `petitions[1]` waiting; three public commitments of the district's housing bureau — one
/// fulfilled, one in hand, one past its date (the sweeper, as the server does each minute, gives it its red
/// card).
async fn periods_and_commitments(
    svc: &taizhang_service::Service,
    clock: &ManualClock,
    principals: &BTreeMap<&str, Principal>,
    units: &BTreeMap<&str, i64>,
    now: chrono::DateTime<Utc>,
    petitions: &[i64],
) -> DomainResult<(BTreeMap<String, usize>, BTreeMap<String, usize>)> {
    let today = now.with_timezone(&china_tz()).date_naive();
    let leader = &principals["dc_leader"];
    let mut periods: BTreeMap<String, usize> = BTreeMap::new();
    // Ended, running now (its 9:00 round shows on 日报告), and planned.
    for (title, start, end, steps) in [
        ("重大节日期间特殊时期工作方案", -40i64, -30i64, true),
        ("冬季安全生产和森林防火特殊时期工作方案", -2, 12, true),
        ("年度重要会议期间特殊时期工作方案", 20, 30, false),
    ] {
        let fields = f(&[
            ("title", json!(title)),
            ("starts_on", json!((today + Duration::days(start)).to_string())),
            ("ends_on", json!((today + Duration::days(end)).to_string())),
            ("scope_unit", json!(units["349901"])),
            ("leading_group", json!("组长：邓明（区领导）；副组长：王海涛（区信访局）；成员：各街道、部门主要负责人")),
            ("duty_level", json!("level1")),
            ("reporting", json!("twice_daily")),
            ("measures", json!("主要领导 24 小时带班；各街道每日 9:00、16:00 两次报告；重点场所每日巡查")),
        ]);
        let planned = now + Duration::days(start.min(0) - 7);
        let steps: Vec<Step<'_>> = if steps {
            vec![
                (now + Duration::days(start), leader, "activate", f(&[])),
                (
                    now + Duration::days(end),
                    leader,
                    "end",
                    f(&[("summary", json!("期间无重大事件，日报告 100% 按时报送"))]),
                ),
            ]
        } else {
            vec![]
        };
        let (_, state) = play(svc, clock, now, "special_period", (planned, leader, fields, vec![]), steps).await?;
        *periods.entry(state).or_default() += 1;
    }
    // 城关街道's 9:00 report yesterday, as the running plan asks.
    let yesterday = today - Duration::days(1);
    if let Some(at) = yesterday.and_hms_opt(8, 45, 0).and_then(|t| t.and_local_timezone(china_tz()).single()) {
        let fields =
            f(&[("report_date", json!(yesterday.to_string())), ("round", json!("morning")), ("result", json!("nil"))]);
        play(svc, clock, now, "daily_report", (at.with_timezone(&Utc), &principals["duty"], fields, vec![]), vec![])
            .await?;
    }

    clock.set(now);
    for (day, place, topic) in
        [(3i64, "东城区信访局接待大厅", "城建、物业"), (6, "城关街道社会治理中心", "征地拆迁、劳动保障")]
    {
        let starts = (today + Duration::days(day)).to_string() + " 09:00";
        let slot = taizhang_service::reception::SlotInput {
            unit_id: units["349901"],
            leader_id: leader.user.id,
            starts,
            minutes: 150,
            place: place.into(),
            topic: topic.into(),
            capacity: 8,
        };
        let id = svc.create_slot(leader, slot).await?;
        // A resident's request on the first, still to be confirmed.
        if day == 3
            && let Some(case_id) = petitions.get(1)
        {
            book(svc, id, *case_id, "小区电梯长期停运，希望当面反映维修资金问题", now - Duration::days(1)).await?;
        }
    }
    // Last week's session: a request confirmed, then the reception held and recorded on the petition.
    if let Some(&case_id) = petitions.first() {
        clock.set(now - Duration::days(9));
        let starts = (today - Duration::days(4)).to_string() + " 09:00";
        let slot = taizhang_service::reception::SlotInput {
            unit_id: units["349901"],
            leader_id: leader.user.id,
            starts,
            minutes: 150,
            place: "东城区信访局接待大厅".into(),
            topic: "综合".into(),
            capacity: 6,
        };
        let slot_id = svc.create_slot(leader, slot).await?;
        let booking =
            book(svc, slot_id, case_id, "对答复意见的落实情况有疑问，希望当面说明", now - Duration::days(8)).await?;
        clock.set(now - Duration::days(7));
        svc.decide_booking(leader, slot_id, booking, true, "请于当日 8:50 到东城区信访局接待大厅").await?;
        let code = svc.store.case(case_id).await.map_err(taizhang_service::se)?.map(|r| r.code).unwrap_or_default();
        let fields = f(&[
            ("title", json!("约访：答复意见落实情况")),
            ("source_case", json!(code)),
            ("mode", json!("appointment")),
            ("booking", json!(booking)),
            ("leader", json!("邓明")),
            ("host_unit", json!(units["349901"])),
            ("held_at", json!("上周接访日上午，东城区信访局接待大厅")),
            ("summary", json!("信访人反映答复意见中的整改事项尚未落实，已当场要求区住建局说明进度。")),
            ("promises", json!("区住建局 10 日内书面告知整改进度")),
        ]);
        // Recorded at 11:30 that day, after the session's morning.
        let held = (today - Duration::days(4))
            .and_hms_opt(11, 30, 0)
            .and_then(|t| t.and_local_timezone(china_tz()).single())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(now - Duration::days(4));
        play(svc, clock, now, "reception", (held, leader, fields, vec![]), vec![]).await?;
    }

    let mut commitments: BTreeMap<String, usize> = BTreeMap::new();
    let owner = ("owner_unit", json!(units["349901-ZJ"]));
    for (title, back, days, done) in [
        ("幸福小区 3 栋电梯更换", 40i64, 30i64, true),
        ("光明街安置房交房前完成消防验收", 10, 45, false),
        ("幸福路积水点排水改造", 12, 7, false),
    ] {
        let fields = f(&[
            ("title", json!(title)),
            ("content", json!(format!("{title}，按期向群众公开进展"))),
            owner.clone(),
            ("owner", json!("东城区住建局副局长 曹阳")),
            ("within_days", json!(days)),
            ("public", json!("yes")),
            ("timetable", json!("第一周制定方案，其后按周报告进展")),
        ]);
        let opened = now - Duration::days(back);
        let staff = &principals["dczj_staff"];
        let mut steps: Vec<Step<'_>> = vec![(
            opened + Duration::days(2),
            staff,
            "progress",
            f(&[("progress", json!("已制定方案，正在组织施工"))]),
        )];
        if done {
            steps.push((opened + Duration::days(20), staff, "fulfil", f(&[("result", json!("已完成并通过验收"))])));
        }
        play(svc, clock, now, "commitment", (opened, leader, fields, vec![]), steps).await?;
    }
    // The one past its date gets its red card, as the server's sweeper would give it at start.
    clock.set(now);
    svc.sweep().await?;
    let mut after = 0;
    loop {
        let rows = svc.store.cases_created_since("commitment", now - Duration::days(60), after, 100).await;
        let rows = rows.map_err(taizhang_service::se)?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        for r in rows {
            *commitments.entry(r.state).or_default() += 1;
        }
    }
    Ok((periods, commitments))
}

/// 城关街道's daily reports for the last week: nil reports and reports with items, one filed late (16:40, after
/// the 16:00 deadline), one day not reported at all, the oldest archived; today's is not due yet.
async fn daily_reports(
    svc: &taizhang_service::Service,
    clock: &ManualClock,
    principals: &BTreeMap<&str, Principal>,
    now: chrono::DateTime<Utc>,
) -> DomainResult<BTreeMap<String, usize>> {
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    let today = now.with_timezone(&china_tz()).date_naive();
    for back in 1..=7i64 {
        let day = today - Duration::days(back);
        // Filed at 15:30 China time; the 3rd day back at 16:40 (late); the 5th day back never.
        let filed = match back {
            5 => continue,
            3 => (16, 40),
            _ => (15, 30),
        };
        let Some(at) = day.and_hms_opt(filed.0, filed.1, 0).and_then(|t| t.and_local_timezone(china_tz()).single())
        else {
            continue;
        };
        let fields = if back % 2 == 0 {
            f(&[("report_date", json!(day.to_string())), ("result", json!("nil"))])
        } else {
            f(&[
                ("report_date", json!(day.to_string())),
                ("result", json!("items")),
                ("items", json!("石门村后山出现裂缝，已安排专人监测；幸福社区一起邻里纠纷已调解")),
            ])
        };
        let steps: Vec<Step<'_>> = if back == 7 {
            vec![(at.with_timezone(&Utc) + Duration::days(2), &principals["jd_leader"], "archive", f(&[]))]
        } else {
            vec![]
        };
        let opened = (at.with_timezone(&Utc), &principals["duty"], fields, vec![]);
        let (_, state) = play(svc, clock, now, "daily_report", opened, steps).await?;
        *states.entry(state).or_default() += 1;
    }
    Ok(states)
}

/// (type, level, title, location, description, plan)
const INCIDENT_MATTERS: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "natural_disaster",
        "III",
        "城关街道石门村山体滑坡",
        "石门村 3 组后山",
        "连续降雨致后山滑坡，掩埋村道约 30 米，2 户房屋受威胁",
        "flood_iv",
    ),
    ("accident", "IV", "幸福路一仓库火灾", "幸福路 18 号", "仓库堆放的纸箱起火，无人员被困", "fire_general"),
    ("public_health", "IV", "城关小学多名学生腹泻", "城关小学", "午餐后 12 名学生出现腹泻呕吐症状，已送医", ""),
    ("social_safety", "IV", "光明街工地欠薪聚集", "光明街安置房工地门口", "约 20 名工人聚集讨要工资", ""),
    ("natural_disaster", "IV", "河口镇内涝", "河口镇老街", "暴雨致老街积水 40 厘米", "flood_iv"),
];

/// Incidents of the last weeks in every state: one unacknowledged alert that climbed its ladder, one handled
/// with its plan's tasks, closed, dismissed.
async fn incidents(
    svc: &taizhang_service::Service,
    clock: &ManualClock,
    principals: &BTreeMap<&str, Principal>,
    units: &BTreeMap<&str, i64>,
    now: chrono::DateTime<Utc>,
) -> DomainResult<(BTreeMap<String, usize>, BTreeMap<String, usize>)> {
    let mut task_states: BTreeMap<String, usize> = BTreeMap::new();
    let (grid, duty, leader) = (&principals["grid"], &principals["duty"], &principals["jd_leader"]);
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    // (index, end) — "received" is an alert nobody has acknowledged for an hour.
    for (i, end) in ["responding", "closed", "dismissed", "closed", "received"].iter().enumerate() {
        let (ty, level, title, location, description, plan) = INCIDENT_MATTERS[i];
        let start =
            if *end == "received" { now - Duration::minutes(70) } else { now - Duration::days(20 - 4 * i as i64) };
        let at = |m: i64| start + Duration::minutes(m);
        let fields = f(&[
            ("incident_type", json!(ty)),
            ("level", json!(level)),
            ("warning_colour", json!(if level == "III" { "orange" } else { "blue" })),
            ("title", json!(title)),
            (
                "occurred_at",
                json!(format!(
                    "{} 左右",
                    (start - Duration::minutes(15))
                        .with_timezone(&taizhang_domain::deadline::china_tz())
                        .format("%m月%d日 %H:%M")
                )),
            ),
            ("location", json!(location)),
            ("description", json!(description)),
            ("responsible_unit", json!(units["349901001"])),
        ]);
        let mut steps: Vec<Step<'_>> = vec![];
        if *end != "received" {
            // The third one is acknowledged late: the alert reached the leader first.
            let (ack_at, who, ack) = if i == 2 { (at(20), leader, "ack_leader") } else { (at(4), duty, "ack_duty") };
            steps.push((ack_at, who, ack, f(&[("note", json!("已接报"))])));
            steps.push((at(22), duty, "phone_report", f(&[("reported_to", json!("东城区应急管理局值班室"))])));
            // One written report comes late (recorded as late).
            let written = if i == 1 { at(150) } else { at(50) };
            steps.push((
                written,
                duty,
                "written_report",
                f(&[
                    ("report_text", json!(format!("{title}：{description}。已组织力量赶赴现场。"))),
                    ("reported_to", json!("东城区应急管理局")),
                    ("measures", json!("设置警戒，疏散群众")),
                ]),
            ));
            if *end == "dismissed" {
                steps.push((
                    at(160),
                    leader,
                    "dismiss",
                    f(&[("verified", json!("no")), ("reason", json!("经医院诊断为普通肠胃不适，不属于食物中毒事件"))]),
                ));
            } else {
                steps.push((
                    at(60 + 100),
                    leader,
                    "confirm",
                    f(&[("verified", json!("yes")), ("measures", json!("启动应急响应，组织转移和处置"))]),
                ));
                if !plan.is_empty() {
                    steps.push((at(170), leader, "activate_plan", f(&[("plan", json!(plan))])));
                }
                steps.push((
                    at(60 * 20),
                    duty,
                    "follow_up_report",
                    f(&[("report_text", json!("现场处置有序，无人员伤亡"))]),
                ));
                if *end == "closed" {
                    steps.push((
                        at(60 * 40),
                        leader,
                        "close",
                        f(&[
                            ("report_text", json!("险情已排除，事件处置结束")),
                            ("measures", json!("受影响群众已妥善安置，现场已恢复")),
                        ]),
                    ));
                }
            }
        }
        let (id, state) = play(svc, clock, now, "incident", (at(0), grid, fields, vec![]), steps).await?;
        *states.entry(state).or_default() += 1;
        tasks_carried_out(svc, clock, principals, id, now).await?;
        for t in svc.store.children(id).await.map_err(taizhang_service::se)? {
            *task_states.entry(t.state).or_default() += 1;
        }
    }
    Ok((states, task_states))
}

/// The tasks a plan opened on incident `id`, taken on by their units: the first signed for and done, the
/// second signed for, a third left waiting; on a plan of two steps the second is cancelled.
async fn tasks_carried_out(
    svc: &taizhang_service::Service,
    clock: &ManualClock,
    principals: &BTreeMap<&str, Principal>,
    id: i64,
    now: chrono::DateTime<Utc>,
) -> DomainResult<()> {
    let tasks = svc.store.children(id).await.map_err(taizhang_service::se)?;
    let owner = |unit: Option<i64>| {
        principals.values().find(|p| {
            Some(p.unit.id) == unit && p.roles.iter().any(|r| [Role::DutyOfficer, Role::HandlingStaff].contains(r))
        })
    };
    for (n, t) in tasks.iter().enumerate() {
        let Some(who) = owner(t.handling_unit) else { continue };
        let at = |m: i64| (t.created_at + Duration::minutes(m)).min(now);
        let mut steps = vec![];
        match (n, tasks.len()) {
            (1, 2) => steps.push((
                at(40),
                &principals["jd_leader"],
                "cancel",
                f(&[("reason", json!("火势已控制，无需扩大排查"))]),
            )),
            (0, _) => {
                steps.push((at(8), who, "sign_for", f(&[])));
                steps.push((at(50), who, "complete", f(&[("result", json!("已按预案完成，现场情况已报指挥部"))])));
            }
            (1, _) => steps.push((at(12), who, "sign_for", f(&[("note", json!("已安排人员前往"))]))),
            _ => {}
        }
        for (when, by, action, fields) in steps {
            clock.set(when);
            svc.act(Actor::Staff(by), t.id, action, fields, None).await?;
        }
    }
    Ok(())
}

/// One step of a demo case: when, by whom, which action, with what.
type Step<'a> = (chrono::DateTime<Utc>, &'a Principal, &'a str, Map<String, Value>);

/// Opens a case of `kind` (when, by whom, its fields), then takes `steps` in order with the clock set to each
/// one's time, stopping at the first that would lie in the future. Returns the state the case reached.
async fn play(
    svc: &taizhang_service::Service,
    clock: &ManualClock,
    now: chrono::DateTime<Utc>,
    kind: &str,
    (opened, by, fields, parties): (chrono::DateTime<Utc>, &Principal, Map<String, Value>, Vec<PartyInput>),
    steps: Vec<Step<'_>>,
) -> DomainResult<(i64, String)> {
    clock.set(opened.min(now));
    let req = IntakeRequest {
        kind: kind.into(),
        fields,
        petitioner: None,
        parties,
        client_request_id: None,
        unit_id: None,
        attachments: vec![],
    };
    let case = svc.register(Actor::Staff(by), req).await?.case;
    let mut state = case.state;
    for (at, who, action, fields) in steps {
        if at >= now {
            break;
        }
        clock.set(at);
        // What the system would have done by then (an alert climbing its ladder, an overdue escalation).
        svc.sweep().await?;
        state = svc.act(Actor::Staff(who), case.id, action, fields, None).await?.state;
    }
    svc.sweep().await?;
    Ok((case.id, svc.store.case(case.id).await.map_err(taizhang_service::se)?.map(|r| r.state).unwrap_or(state)))
}

enum Who {
    Office,
    Clerk,
    Staff,
    Leader,
    /// The city's leader: above the district, who re-reviews (复核) what the district reviewed.
    CityLeader,
    /// The organ above the handling unit, who reviews (复查): the district for district bureaus.
    Reviewer,
    Resident,
}

fn f(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// The steps (days after intake, who, action, fields) that bring a case to `path`.
fn demo_steps(path: &str, unit: i64, original: Option<i64>) -> Vec<(f64, Who, &'static str, Map<String, Value>)> {
    let assign =
        (3.0, Who::Office, "assign", f(&[("target_unit", json!(unit)), ("note", json!("请依法依规办理并按期答复"))]));
    let accept = (6.0, Who::Staff, "accept", f(&[("note", json!("已受理，安排专人调查核实"))]));
    let reply = |d: f64| {
        (
            d,
            Who::Staff,
            "reply",
            f(&[
                ("outcome", json!("explain")),
                (
                    "reply",
                    json!(
                        "经调查核实，您反映的问题部分属实。我单位已责成相关方限期整改，并将跟踪落实情况。如对本意见不服，可自收到之日起 30 日内向上一级机关申请复查。"
                    ),
                ),
            ]),
        )
    };
    let request_review =
        |d: f64| (d, Who::Resident, "request_review", f(&[("reason", json!("处理意见未解决实际问题，申请复查"))]));
    let review_reply = |d: f64| {
        (
            d,
            Who::Reviewer,
            "review_reply",
            f(&[
                ("outcome", json!("not_support")),
                ("reply", json!("经复查，原处理意见认定事实清楚，适用依据正确，予以维持。")),
            ]),
        )
    };
    let request_re_review =
        |d: f64| (d, Who::Resident, "request_re_review", f(&[("reason", json!("对复查意见不服，申请复核"))]));
    let mut steps = vec![];
    match path {
        "registered" => {}
        "assigned" => steps.push(assign),
        "not_accepted" => steps.push((
            2.0,
            Who::Office,
            "not_accept",
            f(&[
                ("not_accepted_reason", json!("being_handled")),
                ("reason", json!("该事项已由有权机关受理，正在法定期限内办理")),
            ]),
        )),
        "routed_legal" => steps.push((
            4.0,
            Who::Office,
            "route_legal",
            f(&[
                ("legal_channel", json!("arbitration")),
                ("reason", json!("属于劳动争议，请向劳动人事争议仲裁委员会申请仲裁")),
            ]),
        )),
        "forwarded_discipline" => {
            steps.push((2.0, Who::Office, "forward_discipline", f(&[("discipline_body", json!("临江市纪委监委"))])))
        }
        "duplicate" => match original {
            Some(o) => steps.push((
                0.5,
                Who::Clerk,
                "mark_duplicate",
                f(&[("duplicate_of", json!(o)), ("note", json!("同一事项再次来访"))]),
            )),
            None => steps.push(assign),
        },
        "suggestion_closed" => {
            steps.extend([assign, accept]);
            steps.push((
                20.0,
                Who::Staff,
                "answer",
                f(&[("reply", json!("感谢您的建议，我们已转交相关部门研究，将在下一步工作中统筹考虑。"))]),
            ));
            steps.push((25.0, Who::Office, "close", f(&[])));
        }
        _ => {
            steps.extend([assign, accept]);
            if path == "handling" {
                return steps;
            }
            steps.push((
                50.0,
                Who::Staff,
                "request_extension",
                f(&[("extension_days", json!(20)), ("reason", json!("涉及多个部门，需要进一步调查取证"))]),
            ));
            if path == "extension_pending" {
                return steps;
            }
            steps.push((
                51.0,
                Who::Leader,
                "approve_extension",
                f(&[("extension_days", json!(20)), ("reason", json!("情况复杂，同意延期"))]),
            ));
            steps.push(reply(70.0));
            match path {
                "replied" => {}
                "closed" => {
                    steps.push((75.0, Who::Resident, "rate", f(&[("satisfaction", json!("basically_satisfied"))])));
                    // 42 days after the reply: the 30-day review window, rolled past the longest holiday (Spring
                    // Festival, National Day) when it ends in one, has closed by then whatever the date.
                    steps.push((112.0, Who::Office, "close", f(&[])));
                }
                _ => {
                    steps.push(request_review(80.0));
                    steps.push(review_reply(105.0));
                    if path == "reviewed" || path == "review" {
                        if path == "review" {
                            steps.pop();
                        }
                        return steps;
                    }
                    steps.push(request_re_review(115.0));
                    if path == "re_review" {
                        return steps;
                    }
                    steps.push((
                        125.0,
                        Who::CityLeader,
                        "start_hearing",
                        f(&[("note", json!("组织听证，邀请人大代表、律师参加"))]),
                    ));
                    if path == "re_review_hearing" {
                        return steps;
                    }
                    steps.push((130.0, Who::CityLeader, "end_hearing", f(&[])));
                    steps.push((
                        150.0,
                        Who::CityLeader,
                        "re_review_reply",
                        f(&[
                            ("outcome", json!("not_support")),
                            ("reply", json!("经复核，维持复查意见。本复核意见为最终意见，同一事实和理由不再受理。")),
                        ]),
                    ));
                }
            }
        }
    }
    steps
}
