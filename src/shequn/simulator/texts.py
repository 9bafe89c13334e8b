"""Word lists, names and message pools of the simulator (模拟数据的文本素材).

Owns: every Chinese string the simulator writes (community and group names, nicknames, per-type message templates,
ad texts and their hard negatives) and the pools built from them once, at import, with a fixed random generator, so
per-event work is a list lookup. May import: the standard library only. Names are invented: no real brand or person.
"""

from __future__ import annotations

import random
from typing import Any, Final

TYPES: Final = ("consumption", "growth", "ip", "money", "interest", "industry")

CITIES: Final = (
    "北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "重庆", "苏州", "长沙", "厦门", "青岛",
    "天津", "郑州", "合肥", "昆明", "大连", "宁波", "福州", "济南", "沈阳", "南昌", "佛山", "东莞", "无锡", "珠海",
)  # fmt: skip
HOBBIES: Final = (
    "跑步", "读书", "摄影", "烘焙", "旅行", "瑜伽", "健身", "写作", "绘画", "吉他", "爬山", "游泳", "羽毛球", "电影",
    "咖啡", "插花", "钓鱼", "骑行", "手帐", "追剧", "做饭", "养猫", "围棋", "滑雪", "露营", "美食", "音乐", "书法",
)  # fmt: skip
JOBS: Final = (
    "产品经理", "新媒体运营", "财务", "老师", "程序员", "设计师", "宝妈", "HR", "销售", "会计", "医生", "律师助理",
    "大学生", "自由职业", "店长", "外贸", "公务员", "工程师", "健身教练", "美容师", "电商卖家", "创业者",
)  # fmt: skip
SURNAMES: Final = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程魏苏吕丁任沈姚卢"
)
GIVEN: Final = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玲红鹏飞晨宇婷雪琳欣悦浩然子涵梓萱一诺思远嘉怡俊熙"
NICKS: Final = (
    "小鱼儿", "阿杰", "晴天", "木子", "一叶知秋", "小太阳", "橙子", "大白", "糖糖", "小鹿", "阿珍", "老陈", "安安",
    "果果", "豆豆", "静待花开", "随遇而安", "向日葵", "小满", "阿飞", "七七", "momo", "Amy", "Tony", "Lily", "Kevin",
    "Coco", "Jason", "Vivian", "Leo", "小可爱", "追风少年", "海阔天空", "云淡风轻", "岁月静好", "平常心", "小马哥",
    "阿珂", "胖虎", "柠檬", "芒果", "奶茶", "Sunny", "Grace", "小王子", "布丁", "苹果", "阿宝", "老周", "燕子",
    "微笑", "简单", "知足常乐", "心想事成", "小雨", "阳光", "大海", "山水", "清风", "明月", "花开", "叶子", "星星",
    "Emma", "Jack", "Anna", "小熊", "兔子", "小猪佩奇", "喵喵", "汪汪", "阿狸", "Mia", "Ella", "杰克", "老李",
)  # fmt: skip
EMOJI_TAILS: Final = ("🌸", "🍀", "☀️", "🌙", "🌈", "✨", "🐱", "🍊", "💫", "🌻")


def _pool_rng(tag: str) -> random.Random:
    return random.Random(f"shequn-sim-texts/{tag}")


def _make_names(n: int) -> tuple[str, ...]:
    rng = _pool_rng("names")
    out: list[str] = []
    for _ in range(n):
        r = rng.random()
        if r < 0.28:
            name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
        elif r < 0.55:
            name = rng.choice(NICKS)
        elif r < 0.65:
            name = rng.choice(NICKS) + rng.choice(EMOJI_TAILS)
        elif r < 0.85:
            name = f"{rng.choice(NICKS)}-{rng.choice(CITIES)}-{rng.choice(HOBBIES)}"
        elif r < 0.93:
            name = f"{rng.choice(SURNAMES)}{rng.choice(('姐', '哥', '老师', '先生', '女士'))}"
        else:
            name = f"{rng.choice(CITIES)}{rng.choice(NICKS)}"
        out.append(name)
    return tuple(out)


NAME_POOL: Final = _make_names(20011)


def person_name(num: int, salt: int) -> str:
    """The display name of person ``num`` (deterministic; popular names repeat, as in real groups)."""
    return NAME_POOL[(num * 2654435761 + salt) % len(NAME_POOL)]


def formatted_nick(rng: random.Random, kind: str = "hobby") -> str:
    """A nickname in the 昵称-城市-爱好 format (or 昵称-城市-行业 for industry communities)."""
    last = rng.choice(JOBS) if kind == "job" else rng.choice(HOBBIES)
    return f"{rng.choice(NICKS)}-{rng.choice(CITIES)}-{last}"


# ----------------------------------------------------------------------------------------------------------------
# Communities

COMMUNITY_STEMS: Final[dict[str, tuple[str, ...]]] = {
    "consumption": (
        "优选福利社", "好物团购群", "宝妈拼团社", "社区团购站", "零食折扣站", "生鲜优选团", "美妆福利群", "咖啡福利社",
        "母婴好物团", "家居特惠群", "水果团购群", "省钱小分队", "邻里拼单群", "宠物好物社",
    ),
    "growth": (
        "成长读书会", "早起打卡营", "自律成长营", "写作训练营", "英语晨读社", "PPT进阶班", "时间管理研习社",
        "职场成长会", "考研互助群", "财商学习社", "演讲沙龙", "数据分析学习群", "思维导图训练营",
    ),
    "ip": ("粉丝会", "书友会", "同学会", "铁粉团", "共创营", "学员群", "家人群"),
    "money": (
        "渠道合伙人", "商家联盟", "项目对接群", "招商合伙人", "跨境卖家圈", "电商操盘手", "私域操盘手", "直播带货联盟",
        "本地生活商家会", "供应链资源群", "品牌合伙人", "加盟商联盟",
    ),
    "interest": (
        "夜跑俱乐部", "周末徒步队", "健身打卡群", "摄影爱好者", "写作爱好者", "短视频创作者", "羽毛球约球群",
        "骑行俱乐部", "烘焙爱好者", "理财爱好者", "围棋茶社", "手帐交流群", "露营爱好者",
    ),
    "industry": (
        "美业同行会", "健身教练联盟", "家装设计师圈", "电商从业者", "宝妈创业圈", "程序员交流会", "教师成长联盟",
        "作者交流群", "餐饮老板会", "HR同行会", "律师同行圈", "医美从业者", "物业经理人",
    ),
}  # fmt: skip
IP_NAMES: Final = (
    "米粒", "阿木", "秋实", "橙子叔叔", "小满老师", "大鹏说", "果壳君", "一棵树", "青禾", "知了", "南山", "北屿",
    "麦田", "拾光", "半夏", "暖暖", "石头哥", "老树", "白鹭", "青柠",
)  # fmt: skip
PLACE_PREFIXES: Final = (*CITIES, "阳光花园", "滨江", "城南", "望京", "西湖", "天河", "南山", "光谷", "浦东", "河西")

POSITIONING: Final[dict[str, dict[str, Any]]] = {
    "consumption": {
        "what": "一个领券、团购、秒杀的福利群",
        "why": "用更低的价格买到靠谱的好东西",
        "together": "每天发福利、拼团、晒单",
        "purpose": "卖货",
        "tags": ["福利", "团购", "省钱"],
        "goal": ("三个月内领券到消费转化率达到20%", "coupon_to_purchase", 0.2),
        "persona": {"age": "25-45", "gender": "女性为主", "occupation": "上班族、宝妈", "interests": ["购物", "美食"]},
        "value": ["platform"],
        "member_title": "福利官",
    },
    "growth": {
        "what": "一起学习、一起打卡的成长社群",
        "why": "学习需要同伴效应",
        "together": "每日话题、每周案例拆解、嘉宾分享、打卡",
        "purpose": "成长",
        "tags": ["学习", "自我成长", "打卡"],
        "goal": ("年度续费率达到40%", "renewal_rate", 0.4),
        "persona": {"age": "22-35", "occupation": "职场新人、大学生", "interests": ["读书", "写作"]},
        "value": ["content", "consulting"],
        "member_title": "学员",
    },
    "ip": {
        "what": "围绕主理人的粉丝与共创社群",
        "why": "喜欢同一个人、同一种内容",
        "together": "新内容首发、线下见面会、一起共创",
        "purpose": "品牌",
        "tags": ["粉丝", "共创", "同城会"],
        "goal": ("每周持续输出两次内容，成员共创内容占比30%", "member_content_share", 0.3),
        "persona": {"age": "20-40", "interests": ["内容", "生活方式"]},
        "value": ["content", "platform"],
        "member_title": "家人",
    },
    "money": {
        "what": "渠道、商家和项目的资源对接圈",
        "why": "一起找项目、找渠道、赚钱",
        "together": "资源互换、项目对接、大咖分享",
        "purpose": "人脉",
        "tags": ["资源对接", "渠道", "合伙人"],
        "goal": ("每月促成10次资源对接", "resource_matches", 10),
        "persona": {"age": "28-45", "occupation": "老板、渠道商、操盘手"},
        "value": ["resource", "platform"],
        "member_title": "合伙人",
    },
    "interest": {
        "what": "同一个爱好的小伙伴一起玩",
        "why": "一个人坚持难，一群人走得远",
        "together": "线上打卡交流，线下约活动",
        "purpose": "兴趣",
        "tags": ["兴趣", "线下活动", "同城"],
        "goal": ("每月至少组织两次线下活动", "offline_events", 2),
        "persona": {"age": "20-40", "interests": ["运动", "户外"]},
        "value": ["platform"],
        "member_title": "同好",
    },
    "industry": {
        "what": "同一个行业的从业者交流圈",
        "why": "一手资讯、经营方法、资源对接",
        "together": "行业资讯、经营经验分享、同行互助",
        "purpose": "人脉",
        "tags": ["行业", "同行", "资源"],
        "goal": ("付费转化率达到15%", "paid_conversion", 0.15),
        "persona": {"age": "25-50", "occupation": "从业者、老板"},
        "value": ["content", "resource"],
        "member_title": "同行",
    },
}

# ----------------------------------------------------------------------------------------------------------------
# Message material

GENERIC_CHAT: Final = (
    "早上好呀", "大家早", "今天好冷啊", "终于周五了", "哈哈哈哈", "笑死我了", "确实", "同意", "有道理", "+1", "赞",
    "学到了", "好的好的", "收到", "辛苦了", "太真实了", "我也是这么想的", "今天忙疯了", "刚下班", "晚安各位",
    "周末愉快", "哈哈，太可爱了", "这个好", "厉害了", "我来晚了", "爬楼看完了", "有意思", "说得太对了",
    "我先潜水了", "今天状态不错", "明天见", "午饭吃什么好", "下雨了记得带伞", "好久没冒泡了", "路过点个赞",
    "这个必须支持", "羡慕了", "同感", "我觉得可以", "慢慢来，比较快",
)  # fmt: skip
STICKERS: Final = (
    "[表情]偷笑",
    "[表情]捂脸",
    "[表情]点赞",
    "[表情]抱拳",
    "[表情]旺柴",
    "[表情]玫瑰",
    "[表情]OK",
    "[表情]鼓掌",
)
THANKS: Final = (
    "谢谢！",
    "感谢分享🙏",
    "收到，学习了",
    "谢谢大佬",
    "明白了，谢谢",
    "太有用了，感谢",
    "懂了懂了",
    "好的，我试试",
)
REACTIONS: Final = ("👍", "❤️", "🌹", "😂", "👏", "🙏", "🎉", "💪")
RED_PACKET_TEXTS: Final = ("恭喜发财，大吉大利", "周末快乐", "感谢大家支持", "新人报到", "手气最佳的发下一个", "开心")
RED_PACKET_THANKS: Final = ("谢谢老板！", "谢谢红包🧧", "手气最佳🎉", "抢到了，谢谢", "谢谢老板，老板大气", "来晚了😭")
DORMANT_PINGS: Final = ("还有人吗？", "好安静啊", "这个群还有人说话吗？", "大家都去哪了", "冒个泡")
GREETING_PROMPTS: Final = (
    "先看一下群公告哦",
    "来做个自我介绍吧~",
    "记得按群规改一下群昵称哦（昵称-城市-爱好）",
    "有问题随时在群里问",
    "欢迎欢迎，大家鼓掌👏",
)
SELF_INTROS: Final = (
    "大家好，我是{name}，来自{city}，做{job}的，平时喜欢{hobby}，请多关照",
    "谢谢欢迎！我是{name}，{city}的，喜欢{hobby}",
    "大家好～{job}一枚，坐标{city}，希望在群里多学习",
    "谢谢群主拉我进来，我是{name}，爱好{hobby}",
)
EDIT_SUFFIX: Final = "（更正一下）"

# Per type: topics, question stems, answers, chat lines, shares (title, url host), check-in notes.
TOPICS: Final[dict[str, tuple[str, ...]]] = {
    "consumption": ("大家最近都囤了什么好物", "最值得回购的零食是哪款", "家里必备的小电器"),
    "growth": (
        "早起到底有没有用", "如何坚持读完一本书", "你是怎么做年度复盘的", "碎片时间怎么利用", "工作三年最大的收获",
        "怎么克服拖延症", "写作如何找到选题", "职场沟通最容易踩的坑", "做笔记用什么方法", "怎么给自己定目标",
    ),
    "ip": ("老师新书里你最喜欢哪一章", "你是怎么认识老师的", "下一期想听什么主题", "晒晒你的周边", "同城会想去哪里"),
    "money": ("今年哪个渠道还有红利", "私域还能怎么做", "跨境现在还值得入场吗", "项目选品的经验", "怎么找靠谱的供应链"),
    "interest": ("你的第一次半马是什么感受", "跑步膝盖疼怎么办", "最喜欢的一条路线", "装备怎么选", "冬天怎么坚持"),
    "industry": (
        "今年行业整体怎么样", "客单价怎么提上去", "新店开业怎么引流", "员工流失怎么办", "大家用什么系统管理客户",
    ),
}  # fmt: skip
QUESTIONS: Final[dict[str, tuple[str, ...]]] = {
    "consumption": (
        "{product}还有货吗？", "{product}什么时候发货？", "这次的{product}和上次一样吗？", "券怎么用啊？",
        "有人买过{product}吗？", "{product}能开发票吗？", "今天的秒杀几点开始？", "可以改地址吗？",
    ),
    "growth": (
        "有人读过{book}吗？", "今天的作业在哪里交？", "{book}适合新手吗？", "大家每天学习多长时间？",
        "有没有好用的笔记软件推荐？", "下周的嘉宾是谁？", "录播在哪里看？", "打卡漏了一天还能补吗？",
    ),
    "ip": (
        "老师的新课什么时候上线？", "周边还能买到吗？", "同城会{city}有吗？", "直播回放在哪看？", "签名书还有吗？",
        "有{city}的家人吗？",
    ),
    "money": (
        "有做{field}的朋友吗？", "{field}现在利润怎么样？", "有没有靠谱的{resource}推荐？", "这个项目门槛高吗？",
        "{field}现在还能做吗？", "有人对接过{resource}吗？",
    ),
    "interest": (
        "周末有人一起{act}吗？", "新手{act}买什么装备好？", "{city}有一起{act}的吗？", "今天的路线多少公里？",
        "下次活动几点集合？", "{act}前要吃东西吗？",
    ),
    "industry": (
        "大家{job}一般怎么定价？", "有没有好用的收银系统推荐？", "新规出来了大家看了吗？", "{city}有同行吗？",
        "淡季大家怎么做活动？", "会员卡怎么设计比较好？",
    ),
}  # fmt: skip
ANSWERS: Final[dict[str, tuple[str, ...]]] = {
    "consumption": ("有的，下单就行", "一般48小时内发", "我买过，还不错", "群公告里有说明", "问一下客服吧", "可以的"),
    "growth": (
        "我读过，很适合入门", "在群公告里", "我一般每天一小时", "推荐用飞书或者Notion", "可以补，找助教就行",
        "录播在小程序里", "我的经验是先定小目标",
    ),
    "ip": ("听说下个月", "小程序里还有", "有的，我就在", "直播回放在视频号", "上次见面会超好玩"),
    "money": (
        "我在做，可以私聊", "利润比前几年薄了", "我这边有资源，私聊", "门槛不高，关键是执行", "得看你手上有什么渠道",
        "我对接过，还行",
    ),
    "interest": ("我去！", "先买双好鞋", "我在，一起", "大概10公里", "早上6点半", "吃点香蕉就行"),
    "industry": (
        "我们按区域定", "我们用的是一家本地的系统", "看了，影响不大", "我在", "做会员日效果不错", "储值卡最好用",
    ),
}  # fmt: skip
TYPE_CHAT: Final[dict[str, tuple[str, ...]]] = {
    "consumption": ("收到了，很新鲜👍", "又剁手了", "这个价格可以", "已下单", "上次买的很好吃", "蹲一个秒杀"),
    "growth": (
        "今天的内容很有收获", "笔记整理好了", "这周的案例太精彩了", "坚持就是胜利", "又读完一本", "今天的作业交了",
        "这个方法我试过，真的有用", "学习使我快乐",
    ),
    "ip": ("老师太有才了", "新视频看了三遍", "期待下次见面会", "周边收到了，好可爱", "我是老粉了", "爱了爱了"),
    "money": ("最近行情一般", "有合作的可以聊", "刚谈完一个渠道", "这个模式可以复制", "今天又出了一单"),
    "interest": ("今天跑了8公里", "腿酸了哈哈", "天气真好适合出门", "这张照片拍得太好了", "下次我也去", "冲冲冲"),
    "industry": (
        "今天店里人挺多", "又有两个员工要走", "这个月业绩还行", "同行真不容易", "新品反馈不错", "客户太难伺候了",
    ),
}  # fmt: skip
SLOTS: Final[dict[str, tuple[str, ...]]] = {
    "product": (
        "每日坚果礼盒", "有机鸡蛋", "云南小粒咖啡", "智利车厘子", "洗衣凝珠", "纸巾整箱", "牛排套餐", "婴儿湿巾",
        "蓝莓", "酸奶", "面膜", "保温杯", "大米五公斤", "橄榄油",
    ),
    "book": (
        "《原则》", "《非暴力沟通》", "《刻意练习》", "《认知觉醒》", "《金字塔原理》", "《高效能人士的七个习惯》",
    ),
    "field": ("跨境电商", "社区团购", "直播带货", "私域代运营", "本地生活", "知识付费", "外贸", "餐饮加盟"),
    "resource": ("供应链", "主播资源", "流量渠道", "仓储物流", "投放团队", "线下门店"),
    "act": ("夜跑", "徒步", "骑行", "拍照", "打球", "露营"),
    "city": CITIES,
    "job": ("美容院", "健身房", "家装", "门店", "工作室"),
}  # fmt: skip
SHARE_TITLES: Final[dict[str, tuple[str, ...]]] = {
    "consumption": ("这家店的测评", "囤货清单", "保存食物的小技巧"),
    "growth": ("一篇讲复盘的文章", "这期播客讲得很透", "刻意练习的读书笔记", "时间管理的好文章", "写作课的思维导图"),
    "ip": ("老师的新专访", "上次见面会的照片合集", "粉丝画的漫画"),
    "money": ("今年的行业报告", "一个渠道打法的拆解", "这篇讲私域的干货"),
    "interest": ("一个很好的跑步训练计划", "拉伸教程", "这条徒步路线的攻略", "摄影构图的小技巧"),
    "industry": ("最新的行业政策解读", "同行的门店案例", "一份员工培训手册", "行业白皮书"),
}  # fmt: skip
SHARE_HOSTS: Final = ("mp.weixin.qq.com/s/", "www.zhihu.com/p/", "www.bilibili.com/video/BV", "xhslink.com/")
STORIES: Final[dict[str, tuple[str, ...]]] = {
    "consumption": ("分享一下我家的囤货经验：{x}", "上次团的{product}真的不错，推荐给大家"),
    "growth": (
        "说说我这周的复盘：{x}", "分享一个最近的小收获：{x}", "今天读{book}想到一个问题：{x}",
        "给大家讲个我面试的经历：{x}",
    ),
    "ip": ("第一次见到老师的时候：{x}", "说说我和老师的故事：{x}"),
    "money": ("分享一个最近的项目：{x}", "讲讲我踩过的坑：{x}", "去年做{field}的经验：{x}"),
    "interest": ("说说我第一次跑全马：{x}", "上周末去徒步遇到的事：{x}"),
    "industry": ("分享一下我们店的做法：{x}", "讲讲我们怎么留住老客：{x}"),
}  # fmt: skip
STORY_TAILS: Final = (
    "一开始完全没头绪，后来先把目标拆小，每天只做一点点，三个月下来变化很明显。",
    "最大的体会是别急，先把一件事做透，再考虑下一步。",
    "踩了不少坑，最关键的是找对人，找到靠谱的伙伴事情就顺了。",
    "那段时间每天五点起，现在回头看真的很值。",
    "其实方法都很简单，难的是坚持，群里大家一起打卡帮了我很多。",
    "客户的反馈比我想象的好，口碑带来的新客占了一半。",
)
CHECKIN_NOTES: Final[dict[str, tuple[str, ...]]] = {
    "growth": ("今天读了30页", "早起5:30", "完成今日作业", "英语晨读15分钟", "复盘写完了", "今天学了一节课"),
    "interest": ("今天跑了5公里", "夜跑6.2公里", "拉伸20分钟", "健身房打卡", "今天骑了20公里", "徒步12公里"),
}
TOPIC_INTROS: Final = ("【今日话题】{t}，大家聊聊？", "今天的话题：{t}。欢迎大家分享自己的看法", "#每日一问# {t}？")
DEALS: Final = (
    "【限时秒杀】{product} 原价{p}元，券后{q}元，点击小程序领券下单",
    "【今日团购】{product}，{q}元一份，今晚10点截团",
    "【福利】{product}直降{d}元，先领券再下单更划算",
)
DEALS_FREE: Final = ("今晚8点免费领{d}元无门槛券，点下方小程序领取", "新人免费领{product}试用装，每人限一份")
RESOURCE_POSTS: Final = (
    "【资源对接】本人做{field}，手上有{resource}，寻找合作伙伴，有意向的私聊",
    "【需求】找{resource}，{field}方向，靠谱的朋友推荐一下",
    "【项目】{field}新项目启动，招城市合伙人，门槛不高",
)
RESOURCE_REPLIES: Final = ("感兴趣，已私聊", "我这边有，加你了", "可以聊聊", "我认识一个，帮你问问", "留个名片")
NEWS_POSTS: Final = ("【行业资讯】{t}，大家怎么看？", "【一手消息】{t}", "今天的行业早报：{t}")
NEWS_ITEMS: Final = (
    "行业协会发布了新的服务标准", "几家头部品牌开始降价", "下个月起新规正式实施", "某平台调整了商家佣金",
    "本地几家门店联合搞会员日", "今年的展会定在11月",
)  # fmt: skip
OFFLINE_EVENTS: Final[dict[str, tuple[str, ...]]] = {
    "interest": (
        "周六早上7点{city}滨江公园南门集合约跑，10公里，想来的接龙",
        "周日徒步活动，早上8点地铁口集合，报名接龙",
    ),
    "ip": ("{city}同城会下周六下午举办，名额30人，报名接龙", "粉丝见面会开始报名啦，{city}站"),
    "growth": ("本周六线下读书会，{city}某咖啡馆，限20人，报名接龙",),
    "industry": ("下周三{city}同行交流会，欢迎报名",),
    "money": ("{city}线下资源对接会，仅限群成员，报名接龙",),
    "consumption": ("周末{city}门店试吃活动，欢迎来玩",),
}
SIGNUPS: Final = ("+1", "报名", "我来", "接龙：2. {name}", "算我一个", "带家属可以吗？")
GUEST_TOPICS: Final[dict[str, tuple[str, ...]]] = {
    "growth": ("如何用一年时间读完50本书", "职场新人的第一个三年", "写作变现的路径", "高效学习的底层逻辑"),
    "ip": ("我这十年的创作故事", "新书背后的故事", "怎么做一个有温度的内容"),
}
GUEST_LINES: Final = (
    "大家好，很高兴今天能和大家交流", "先简单介绍一下我自己", "今天主要分三个部分来讲", "第一部分，{x}",
    "这里有个关键点，大家可以记一下", "我给大家举个例子", "很多人会问，{x}", "第二部分讲一下方法",
    "这一点特别重要", "我自己当时也走了很多弯路", "第三部分，怎么落地", "总结一下今天的内容",
    "以上就是今天的分享，下面进入答疑", "这个问题问得好", "我的建议是先从小处开始", "可以，按你的情况慢慢来",
)  # fmt: skip
GUEST_QUESTIONS: Final = (
    "老师，刚开始的时候怎么坚持下来的？", "请问这个方法适合新手吗？", "老师，时间不够用怎么办？",
    "想问一下，怎么判断自己适不适合？", "老师会推荐哪些书吗？", "请问第二部分的方法能再讲讲吗？",
    "工作忙的话每天最少做多少合适？", "遇到瓶颈期怎么办？",
)  # fmt: skip
GUEST_CLAPS: Final = ("👏👏👏", "干货满满", "记笔记了", "太有收获了", "感谢老师", "学到了！")
ANNOUNCE_TEXTS: Final = (
    "【嘉宾分享预告】今晚20:30，{guest}将为大家分享《{topic}》，记得准时来听哦！",
    "【提醒】今晚20:30的嘉宾分享《{topic}》还有一小时开始，分享期间请勿闲聊、请勿发广告",
)
GUEST_INTRO: Final = "欢迎{guest}！今天的主题是《{topic}》，大家掌声欢迎👏"
GUEST_THANKS: Final = "感谢{guest}的精彩分享！文字稿稍后整理发到群文件，大家有收获的话欢迎在群里写写心得"
CLEANUP_CALL: Final = "今天晚上20:00本群将调整一部分长期潜水不说话的小伙伴，在的请打1"
CLEANUP_DONE: Final = "已清理{n}位长期潜水的小伙伴，欢迎大家多多交流，群里需要的是你的声音"
RENEWAL_REMINDER: Final = "【续费提醒】以下小伙伴的会员将于{date}到期，记得续费哦，续费可享老会员价："
RULE_REMINDER: Final = ("群内禁止发广告、加微信拉人，违者直接移出，感谢配合", "再次提醒：本群禁止广告，已移出")
GUEST_TITLES: Final = (
    "{s}老师",
    "{s}教练",
    "{s}老师（畅销书作者）",
    "{s}老师（十年HR）",
    "{s}总（前大厂总监）",
    "{s}博士",
)
BIG_NAME_TITLES: Final = (
    "总｜供应链",
    "总-跨境十年",
    "老师（律所合伙人）",
    "总（连锁品牌创始人）",
    "总｜投资人",
    "哥-操盘手",
)
STAFF_NAME_FORMS: Final = ("{n}（群主）", "运营-{n}", "{n}老师", "{n}", "群主{n}")
ASSISTANT_NAME_FORMS: Final = ("助教-{n}", "小助手{n}", "{n}（管理员）")

# ----------------------------------------------------------------------------------------------------------------
# Ads (and the legitimate messages that look like them)

AD_LEXICON: Final = (
    "兼职日赚300+，宝妈学生党都可以", "刷单返利，日结", "招代理，零投资躺赚", "免费领取面膜，仅限前50名",
    "手机就能做，日赚500", "低价代购，全网最低", "免费领红包，先到先得", "招聘兼职打字员，日结200",
    "足不出户月入过万", "招代理，一件代发", "免费领取课程资料", "点赞关注就能赚钱",
)  # fmt: skip
AD_NAMES: Final = (
    "兼职招聘-小雨",
    "A诚信代理",
    "日赚小助手",
    "小雨",
    "美美",
    "福利官",
    "客服-小美",
    "A0招代理",
    "赚钱达人",
)
AD_HANDLE_WORDS: Final = ("abc", "xy", "lucky", "vip", "fuli", "kefu", "money", "qq", "hao", "daili")
LINK_HOSTS: Final = ("t.cn/", "url.cn/", "dwz.cn/", "bit.ly/")
FULLWIDTH: Final = str.maketrans("0123456789", "０１２３４５６７８９")


def phone(rng: random.Random) -> str:
    return rng.choice(("138", "139", "158", "186", "177", "150")) + "".join(rng.choice("0123456789") for _ in range(8))


def ad_handle(rng: random.Random) -> str:
    return f"{rng.choice(AD_HANDLE_WORDS)}{rng.choice(('', '_'))}{rng.randrange(10, 99999)}"


def short_code(rng: random.Random, n: int = 6) -> str:
    return "".join(rng.choice("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(n))


def ad_text(rng: random.Random, handle: str, tel: str) -> tuple[str, bool]:
    """One ad in an evasive form; the flag says whether it is an image (二维码) rather than text or a link."""
    lex = rng.choice(AD_LEXICON)
    form = rng.randrange(10)
    if form == 0:
        return f"加我vx：{handle} {lex}", False
    if form == 1:
        return f"薇信{handle}，{lex}", False
    if form == 2:
        return f"{lex}，电话 {' '.join(tel)}", False
    if form == 3:
        return f"{lex} 联系：{tel.translate(FULLWIDTH)}", False
    if form == 4:
        return f"{lex}，详情点 http://{rng.choice(LINK_HOSTS)}{short_code(rng)}", False
    if form == 5:
        return f"[二维码] 扫码{lex}", True
    if form == 6:
        return f"➕V：{handle}，{lex}", False
    if form == 7:
        return f"威❤：{handle} {lex}", False
    if form == 8:
        return f"{lex}！有意者私聊，V {handle}", False
    return f"{lex}，+q {tel[:3]}-{tel[3:7]}-{tel[7:]}", False


def share_url(rng: random.Random) -> str:
    return f"https://{rng.choice(SHARE_HOSTS)}{short_code(rng, 10)}"


# ----------------------------------------------------------------------------------------------------------------
# Pools: templates filled once, so the hot path only picks from a tuple.


def _fill(rng: random.Random, template: str, ctype: str) -> str:
    out = template
    for slot, values in SLOTS.items():
        key = "{" + slot + "}"
        while key in out:
            out = out.replace(key, rng.choice(values), 1)
    if "{x}" in out:
        out = out.replace("{x}", rng.choice(STORY_TAILS))
    if "{t}" in out:
        out = out.replace("{t}", rng.choice(TOPICS[ctype]))
    return out


def _pool(tag: str, templates: tuple[str, ...], ctype: str, n: int) -> tuple[str, ...]:
    rng = _pool_rng(f"{tag}/{ctype}")
    return tuple(_fill(rng, rng.choice(templates), ctype) for _ in range(n))


QUESTION_POOL: Final = {t: _pool("q", QUESTIONS[t], t, 300) for t in TYPES}
ANSWER_POOL: Final = {t: _pool("a", ANSWERS[t] + ANSWERS[t] + THANKS[:2], t, 200) for t in TYPES}
CHAT_POOL: Final = {t: _pool("c", TYPE_CHAT[t] * 3 + GENERIC_CHAT, t, 400) for t in TYPES}
STORY_POOL: Final = {t: _pool("s", STORIES[t], t, 120) for t in TYPES}
TOPIC_POOL: Final = {t: _pool("t", TOPIC_INTROS, t, 60) for t in TYPES}
RESOURCE_POOL: Final = _pool("r", RESOURCE_POSTS, "money", 150)
NEWS_POOL: Final = _pool("n", tuple(p.replace("{t}", i) for p in NEWS_POSTS for i in NEWS_ITEMS), "industry", 80)
OFFLINE_POOL: Final = {t: _pool("o", OFFLINE_EVENTS[t], t, 40) for t in TYPES}
GUEST_LINE_POOL: Final = _pool("g", GUEST_LINES, "growth", 200)
PRODUCTS: Final = (
    ("每日坚果礼盒", 8990), ("有机鸡蛋30枚", 3990), ("云南小粒咖啡豆", 6800), ("智利车厘子2斤", 9900),
    ("洗衣凝珠", 4590), ("纸巾整箱", 4990), ("原切牛排套餐", 15900), ("婴儿湿巾", 2990), ("蓝莓4盒", 5990),
    ("希腊酸奶", 3590), ("补水面膜", 7900), ("保温杯", 12900), ("东北大米5kg", 5490), ("橄榄油", 8800),
)  # fmt: skip
MERCH: Final = (("签名书", 6900), ("帆布袋", 4900), ("年度手账", 8800), ("限定T恤", 12900))
JOIN_REASONS: Final = ("想多学习、认识同行", "朋友推荐的", "想找合作资源", "看了公众号文章来的", "想拓展人脉")
