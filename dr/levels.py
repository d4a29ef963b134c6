"""The disaster recovery capability levels (灾难恢复能力等级) of GB/T 20988-2007, Annex A, and
which of them a tier's policy, or a drill's measurement, meets.

GB/T 20988-2007 (信息安全技术 信息系统灾难恢复规范) grades DR capability in six levels by the
means at the DR site and by the recovery time and point objectives each level typically
achieves (Annex A: the RTO/RPO relation table). GB/T 20988-2025 (网络安全技术 信息系统灾难恢复
规范) replaces it from 2026-01-01 and adds DR audit (8.5) and test and evaluation methods (9).
The bounds below read the 2007 table's typical ranges as upper bounds: "数分钟" (a few minutes)
as 30 minutes, "数小时至1天" as a day, "1天至7天" as seven days; a level whose table gives only a
lower bound for RTO ("2天以上") has none here. Confirm against the text in force before citing
a level in a formal assessment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from govcloud.model import DrPolicy, Replication, Standby

MINUTE: Final = 60
HOUR: Final = 60 * MINUTE
DAY: Final = 24 * HOUR
STANDARD: Final = "GB/T 20988-2007 附录A"


@dataclass(frozen=True)
class Level:
    """One capability level: its number and name, what it takes at the DR site, and the
    longest RTO and RPO its typical range allows (None: the table sets no upper bound)."""

    number: int
    name_zh: str
    name_en: str
    means_zh: str
    rto_max_s: float | None
    rpo_max_s: float

    @property
    def label(self) -> str:
        """第N级 name (level N)."""
        return f"第{self.number}级 {self.name_zh} (level {self.number}, {self.name_en})"


LEVELS: Final = (
    Level(1, "基本支持", "basic support", "每周至少一次完全数据备份，介质场外存放", None, 7 * DAY),
    Level(
        2,
        "备用场地支持",
        "alternate site support",
        "每天备份，介质场外存放，备用场地",
        None,
        7 * DAY,
    ),
    Level(
        3,
        "电子传输和部分设备支持",
        "electronic transmission and partial equipment",
        "每天多次经网络将关键数据传至备用场地，部分数据处理设备",
        None,
        DAY,
    ),
    Level(
        4,
        "电子传输及完整设备支持",
        "electronic transmission and complete equipment",
        "每天多次经网络传输数据，备用场地配置完整的数据处理设备并处于就绪状态",
        2 * DAY,
        DAY,
    ),
    Level(
        5,
        "实时数据传输及完整设备支持",
        "real-time data transmission and complete equipment",
        "远程数据复制实时传输，备用网络和数据处理系统就绪",
        2 * DAY,
        30 * MINUTE,
    ),
    Level(
        6,
        "数据零丢失和远程集群支持",
        "zero data loss and remote cluster",
        "远程实时备份，数据零丢失；备用系统与生产系统并行运行（集群），自动切换",
        30 * MINUTE,
        0,
    ),
)


def _means_allow(policy: DrPolicy, level: Level) -> bool:
    """Whether the policy has the means the level asks for at the DR site: level 6 a
    synchronous copy running at the DR site, level 5 real-time (streaming) replication, the
    levels below data sent over the network to servers the DR stack keeps there."""
    if level.number == 6:
        return policy.replication is Replication.STREAMING_SYNC and policy.standby is Standby.HOT
    if level.number == 5:
        return policy.replication in {Replication.STREAMING_SYNC, Replication.STREAMING_ASYNC}
    return policy.replication is not Replication.NONE


def _within(level: Level, rpo_s: float, rto_s: float) -> bool:
    return rpo_s <= level.rpo_max_s and (level.rto_max_s is None or rto_s <= level.rto_max_s)


def claimed(policy: DrPolicy) -> Level:
    """The highest level the policy's means and its targets reach."""
    return max(
        (
            lvl
            for lvl in LEVELS
            if _means_allow(policy, lvl) and _within(lvl, policy.rpo_s, policy.rto_s)
        ),
        key=lambda lvl: lvl.number,
        default=LEVELS[0],
    )


def met(policy: DrPolicy, rpo_s: float, rto_s: float) -> Level | None:
    """The highest level a drill's measured RPO and RTO reach with the policy's means; None
    when they reach none (an RPO over seven days)."""
    reached = [lvl for lvl in LEVELS if _means_allow(policy, lvl) and _within(lvl, rpo_s, rto_s)]
    return max(reached, key=lambda lvl: lvl.number) if reached else None
