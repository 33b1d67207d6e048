/*
 * Intrusive red-black tree: O(log n) worst case for insert, remove and search, which is what
 * bounds the time to find a run or a chunk span (a real-time user cares about the worst case,
 * not the average). The colour lives in the low bit of the parent pointer (nodes are at least
 * pointer aligned). Red = 1.
 */
#include "internal.h"

#define RB_RED 1u

static bm_rbnode_t *rb_parent(const bm_rbnode_t *n) { return (bm_rbnode_t *)(n->parent_color & ~(uintptr_t)1); }
static bool rb_is_red(const bm_rbnode_t *n) { return n && (n->parent_color & RB_RED); }
static void rb_set_parent(bm_rbnode_t *n, bm_rbnode_t *p) {
    n->parent_color = (uintptr_t)p | (n->parent_color & RB_RED);
}
static void rb_set_red(bm_rbnode_t *n, bool red) {
    n->parent_color = (n->parent_color & ~(uintptr_t)1) | (red ? RB_RED : 0);
}

/* Puts child where old was under old's parent. */
static void rb_replace_child(bm_rbtree_t *tree, bm_rbnode_t *parent, bm_rbnode_t *old,
                             bm_rbnode_t *child) {
    if (!parent)
        tree->root = child;
    else if (parent->left == old)
        parent->left = child;
    else
        parent->right = child;
}

static void rb_rotate_left(bm_rbtree_t *tree, bm_rbnode_t *x) {
    bm_rbnode_t *y = x->right;
    x->right = y->left;
    if (y->left)
        rb_set_parent(y->left, x);
    rb_set_parent(y, rb_parent(x));
    rb_replace_child(tree, rb_parent(x), x, y);
    y->left = x;
    rb_set_parent(x, y);
}

static void rb_rotate_right(bm_rbtree_t *tree, bm_rbnode_t *x) {
    bm_rbnode_t *y = x->left;
    x->left = y->right;
    if (y->right)
        rb_set_parent(y->right, x);
    rb_set_parent(y, rb_parent(x));
    rb_replace_child(tree, rb_parent(x), x, y);
    y->right = x;
    rb_set_parent(x, y);
}

void bm_rb_insert(bm_rbtree_t *tree, bm_rbnode_t *node, bm_rb_cmp_t cmp) {
    bm_rbnode_t *parent = NULL, **link = &tree->root;
    while (*link) {
        parent = *link;
        link = cmp(node, parent) < 0 ? &parent->left : &parent->right;
    }
    node->left = node->right = NULL;
    node->parent_color = (uintptr_t)parent | RB_RED;
    *link = node;
    if (!tree->last || cmp(node, tree->last) > 0)
        tree->last = node;

    bm_rbnode_t *n = node;
    while (rb_is_red(rb_parent(n))) {
        bm_rbnode_t *p = rb_parent(n), *g = rb_parent(p);
        bm_rbnode_t *uncle = (g->left == p) ? g->right : g->left;
        if (rb_is_red(uncle)) {
            rb_set_red(p, false);
            rb_set_red(uncle, false);
            rb_set_red(g, true);
            n = g;
            continue;
        }
        if (g->left == p) {
            if (p->right == n) {
                rb_rotate_left(tree, p);
                n = p;
                p = rb_parent(n);
            }
            rb_set_red(p, false);
            rb_set_red(g, true);
            rb_rotate_right(tree, g);
        } else {
            if (p->left == n) {
                rb_rotate_right(tree, p);
                n = p;
                p = rb_parent(n);
            }
            rb_set_red(p, false);
            rb_set_red(g, true);
            rb_rotate_left(tree, g);
        }
        break;
    }
    rb_set_red(tree->root, false);
}

static bm_rbnode_t *rb_prev(const bm_rbnode_t *node) {
    if (node->left) {
        node = node->left;
        while (node->right)
            node = node->right;
        return (bm_rbnode_t *)node;
    }
    bm_rbnode_t *p = rb_parent(node);
    while (p && p->left == node) {
        node = p;
        p = rb_parent(p);
    }
    return p;
}

void bm_rb_remove(bm_rbtree_t *tree, bm_rbnode_t *node) {
    bm_rbnode_t *child, *parent;
    bool removed_red;
    if (tree->last == node)
        tree->last = rb_prev(node);

    if (node->left && node->right) {
        /* Swap in the in-order successor, which has no left child. */
        bm_rbnode_t *succ = node->right;
        while (succ->left)
            succ = succ->left;
        child = succ->right;
        removed_red = rb_is_red(succ);
        parent = rb_parent(succ);
        if (parent == node) {
            parent = succ;
        } else {
            parent->left = child;
            if (child)
                rb_set_parent(child, parent);
            succ->right = node->right;
            rb_set_parent(node->right, succ);
        }
        succ->left = node->left;
        rb_set_parent(node->left, succ);
        rb_replace_child(tree, rb_parent(node), node, succ);
        succ->parent_color = node->parent_color; /* takes node's parent and colour */
    } else {
        child = node->left ? node->left : node->right;
        parent = rb_parent(node);
        removed_red = rb_is_red(node);
        if (child)
            rb_set_parent(child, parent);
        rb_replace_child(tree, parent, node, child);
    }
    if (removed_red)
        return;

    /* A black node left: restore the black height along child's path. */
    while (child != tree->root && !rb_is_red(child)) {
        if (parent->left == child) {
            bm_rbnode_t *s = parent->right;
            if (rb_is_red(s)) {
                rb_set_red(s, false);
                rb_set_red(parent, true);
                rb_rotate_left(tree, parent);
                s = parent->right;
            }
            if (!rb_is_red(s->left) && !rb_is_red(s->right)) {
                rb_set_red(s, true);
                child = parent;
                parent = rb_parent(child);
                continue;
            }
            if (!rb_is_red(s->right)) {
                rb_set_red(s->left, false);
                rb_set_red(s, true);
                rb_rotate_right(tree, s);
                s = parent->right;
            }
            rb_set_red(s, rb_is_red(parent));
            rb_set_red(parent, false);
            rb_set_red(s->right, false);
            rb_rotate_left(tree, parent);
        } else {
            bm_rbnode_t *s = parent->left;
            if (rb_is_red(s)) {
                rb_set_red(s, false);
                rb_set_red(parent, true);
                rb_rotate_right(tree, parent);
                s = parent->left;
            }
            if (!rb_is_red(s->left) && !rb_is_red(s->right)) {
                rb_set_red(s, true);
                child = parent;
                parent = rb_parent(child);
                continue;
            }
            if (!rb_is_red(s->left)) {
                rb_set_red(s->right, false);
                rb_set_red(s, true);
                rb_rotate_left(tree, s);
                s = parent->left;
            }
            rb_set_red(s, rb_is_red(parent));
            rb_set_red(parent, false);
            rb_set_red(s->left, false);
            rb_rotate_right(tree, parent);
        }
        child = tree->root;
        break;
    }
    if (child)
        rb_set_red(child, false);
}

int bm_rb_addr_cmp(const bm_rbnode_t *a, const bm_rbnode_t *b) {
    return (uintptr_t)a < (uintptr_t)b ? -1 : (uintptr_t)a > (uintptr_t)b;
}

bm_rbnode_t *bm_rb_first(const bm_rbtree_t *tree) {
    bm_rbnode_t *n = tree->root;
    while (n && n->left)
        n = n->left;
    return n;
}

bm_rbnode_t *bm_rb_next(const bm_rbnode_t *node) {
    if (node->right) {
        node = node->right;
        while (node->left)
            node = node->left;
        return (bm_rbnode_t *)node;
    }
    bm_rbnode_t *p = rb_parent(node);
    while (p && p->right == node) {
        node = p;
        p = rb_parent(p);
    }
    return p;
}

bm_rbnode_t *bm_rb_lower_bound(const bm_rbtree_t *tree, const void *key,
                               int (*key_cmp)(const void *key, const bm_rbnode_t *n)) {
    bm_rbnode_t *n = tree->root, *best = NULL;
    while (n) {
        if (key_cmp(key, n) <= 0) {
            best = n;
            n = n->left;
        } else {
            n = n->right;
        }
    }
    return best;
}

/* Returns the black height of the subtree, or -1 if an invariant fails; counts nodes. */
static long rb_validate_subtree(const bm_rbnode_t *n, const bm_rbnode_t *parent, bm_rb_cmp_t cmp,
                                long *count, unsigned depth) {
    if (!n)
        return 1;
    if (depth > 128 || rb_parent(n) != parent)
        return -1;
    if (rb_is_red(n) && (rb_is_red(n->left) || rb_is_red(n->right)))
        return -1;
    if ((n->left && cmp(n->left, n) > 0) || (n->right && cmp(n->right, n) < 0))
        return -1;
    long lh = rb_validate_subtree(n->left, n, cmp, count, depth + 1);
    long rh = rb_validate_subtree(n->right, n, cmp, count, depth + 1);
    if (lh < 0 || rh < 0 || lh != rh)
        return -1;
    ++*count;
    return lh + (rb_is_red(n) ? 0 : 1);
}

long bm_rb_validate(const bm_rbtree_t *tree, bm_rb_cmp_t cmp) {
    long count = 0;
    if (rb_is_red(tree->root))
        return -1;
    const bm_rbnode_t *rightmost = tree->root;
    while (rightmost && rightmost->right)
        rightmost = rightmost->right;
    if (tree->last != rightmost)
        return -1;
    if (rb_validate_subtree(tree->root, NULL, cmp, &count, 0) < 0)
        return -1;
    return count;
}
